"""The LoRA family (full, lora, lora_fa, lora_plus, delta_lora, dora, vera, qlora) on real models.

Checks against closed forms and first principles: counted requires_grad parameters ==
the per-layer formula summed over the adapted layers (+ the head); base weights unchanged
by an optimizer step; output == base output at init; merged == unmerged; Delta-LoRA's W
update == λ·(α/r)·(B'A' − BA) computed here; DoRA's gradients == a hand-written DoRA with
a detached norm.
"""
import copy

import numpy as np

import pytest
import torch
import torch.nn.functional as F

import peft_edu
import peft_edu.inject  # noqa: F401  (peft_edu.inject.make_config below)
from peft_edu.lessons import lora_family as fam
from peft_edu.methods import delta_lora, lora_plus
from peft_edu.methods.dora import DoRALinear
from peft_edu.methods.layers import base_weight, linear_shape
from peft_edu.methods.lora import LoRALinear
from peft_edu.methods.vera import VeRALinear
from tests.tiny import batch, randomize_adapters, tiny_bert, tiny_gpt2

LORA_FAMILY = ("lora", "lora_fa", "lora_plus", "delta_lora", "dora", "vera", "qlora")
MERGEABLE = ("lora", "lora_fa", "lora_plus", "delta_lora", "dora", "vera")
R = 4


def token_ids() -> torch.Tensor:
    return batch(pad=False)[0]  # (2, 7), no padding


def logits(model, ids):
    return model(input_ids=ids).logits


@pytest.fixture(params=["bert", "gpt2"])
def family(request):
    return request.param


def make(family):
    return tiny_bert() if family == "bert" else tiny_gpt2()


def expected_trainable(model, method: str, **cfg) -> int:
    """Closed form summed over the adapted layers, plus the (trainable) head."""
    info = peft_edu.applied(model)
    head = sum(p.numel() for h in info.arch.head for p in model.get_submodule(h).parameters())
    per_layer = 0
    for name in info.arch.targets:
        d_out, d_in = linear_shape(model.get_submodule(name).base)
        per_layer += peft_edu.layer_params(method, d_out, d_in, **cfg)
    return per_layer + (head if info.train_head else 0)


# ---------------------------------------------------------------- counts
@pytest.mark.parametrize("method", LORA_FAMILY)
def test_closed_form_count_equals_counted(family, method):
    model = peft_edu.apply(make(family), method, r=R)
    assert peft_edu.trainable_parameters(model) == expected_trainable(model, method, r=R)


def test_layer_formulas_by_hand():
    d_out, d_in = 48, 32
    assert peft_edu.layer_params("lora", d_out, d_in, r=R) == R * d_in + d_out * R
    assert peft_edu.layer_params("lora_fa", d_out, d_in, r=R) == d_out * R
    assert peft_edu.layer_params("dora", d_out, d_in, r=R) == R * (d_in + d_out) + d_out
    assert peft_edu.layer_params("vera", d_out, d_in, r=R) == d_out + R
    assert peft_edu.layer_params("full", d_out, d_in) == d_out * d_in


def test_full_trains_everything(family):
    model = peft_edu.apply(make(family), "full")
    assert peft_edu.trainable_parameters(model) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("method", LORA_FAMILY)
def test_closed_form_count_on_minilm(minilm, method):
    model = peft_edu.apply(copy.deepcopy(minilm), method, r=8)
    assert len(peft_edu.applied(model).arch.targets) == 12  # query and value in 6 blocks
    assert peft_edu.trainable_parameters(model) == expected_trainable(model, method, r=8)


# ---------------------------------------------------------------- behaviour
@pytest.mark.parametrize("method", ["full", *MERGEABLE])
def test_output_equals_base_at_init(family, method):
    base = make(family)
    ids = token_ids()
    model = peft_edu.apply(copy.deepcopy(base), method, **({} if method == "full" else {"r": R}))
    torch.testing.assert_close(logits(model, ids), logits(base, ids), rtol=0, atol=1e-6)


def train_step(model, ids, lr=1e-2):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    loss = logits(model, ids).pow(2).mean()
    loss.backward()
    opt.step()
    model.eval()


@pytest.mark.parametrize("method", LORA_FAMILY)
def test_frozen_weights_unchanged_by_a_step(family, method):
    model = peft_edu.apply(make(family), method, r=R)
    randomize_adapters(model)  # so that every trainable tensor gets a gradient
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    frozen.update({n: b.clone() for n, b in model.named_buffers()})
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    train_step(model, token_ids())
    now = dict(model.named_parameters()) | dict(model.named_buffers())
    assert all(torch.equal(now[n], v) for n, v in frozen.items() if not n.endswith("_prev"))
    changed = [n for n, v in trainable.items() if not torch.equal(now[n], v)]
    assert sorted(changed) == sorted(trainable)


def test_full_changes_the_weights(family):
    model = peft_edu.apply(make(family), "full")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_step(model, token_ids())
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if "layer" in n or ".h." in n)


@pytest.mark.parametrize("method", MERGEABLE)
def test_merged_equals_unmerged(family, method):
    model = peft_edu.apply(make(family), method, r=R)
    randomize_adapters(model)
    ids = token_ids()
    with torch.no_grad():
        y = logits(model, ids)
        peft_edu.merge(model)
        assert all(m.merged for m in model.modules() if hasattr(m, "merged"))
        torch.testing.assert_close(logits(model, ids), y, rtol=1e-5, atol=1e-5)
        peft_edu.unmerge(model)
        torch.testing.assert_close(logits(model, ids), y, rtol=1e-5, atol=1e-5)


def test_merge_folds_delta_weight_into_conv1d_storage():
    """GPT-2's Conv1D stores W0ᵀ: merging must add ΔWᵀ to its weight."""
    model = peft_edu.apply(tiny_gpt2(), "lora", r=R)
    randomize_adapters(model)
    layer = model.transformer.h[0].attn.c_attn
    W0 = layer.base.weight.detach().clone()  # (d_in, d_out)
    expected = W0 + (layer.scaling * layer.B @ layer.A).T.detach()
    peft_edu.merge(model)
    torch.testing.assert_close(layer.base.weight.detach(), expected)


def test_scaling_alpha_over_r_and_rslora():
    lora = peft_edu.apply(peft_edu.toy_mlp(), "lora", r=4, alpha=16).layers[0]
    rs = peft_edu.apply(peft_edu.toy_mlp(), "lora", r=4, alpha=16, use_rslora=True).layers[0]
    assert lora.scaling == 16 / 4 and rs.scaling == 16 / 2
    randomize_adapters(lora)
    x = torch.randn(5, 16)
    by_hand = lora.base(x) + (16 / 4) * x @ lora.A.T @ lora.B.T
    torch.testing.assert_close(lora(x), by_hand)
    torch.testing.assert_close(lora.delta_weight(), 4.0 * lora.B @ lora.A)


def test_qlora_cannot_merge():
    model = peft_edu.apply(tiny_bert(), "qlora", r=R)
    with pytest.raises(ValueError, match="cannot be merged"):
        peft_edu.merge(model)


# ---------------------------------------------------------------- recipes
def test_lora_fa_freezes_A(family):
    model = peft_edu.apply(make(family), "lora_fa", r=R)
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    assert layers and all(not m.A.requires_grad and m.B.requires_grad for m in layers)


def test_lora_plus_param_groups(family):
    model = peft_edu.apply(make(family), "lora_plus", r=R)
    groups = lora_plus.param_groups(model, 1e-3, lora_plus.Config(r=R, ratio=16))
    Bs = {id(m.B) for m in model.modules() if isinstance(m, LoRALinear)}
    assert {id(p) for p in groups[1]["params"]} == Bs and groups[1]["lr"] == pytest.approx(16e-3)
    assert groups[0]["lr"] == 1e-3 and not Bs & {id(p) for p in groups[0]["params"]}
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in model.parameters() if p.requires_grad)


def test_delta_lora_moves_W_by_the_formula(family):
    lam, K = 2.0, 1
    model = peft_edu.apply(make(family), "delta_lora", r=R, alpha=8, lam=lam, start_step=K)
    layers = [m for m in model.modules() if isinstance(m, delta_lora.DeltaLoRALinear)]
    assert all(isinstance(m.dropout, torch.nn.Identity) for m in layers)  # no dropout on the path
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    ids = token_ids()
    for t in range(3):
        before = [(base_weight(m.base).detach().clone(), m.A.detach().clone(), m.B.detach().clone()) for m in layers]
        opt.zero_grad()
        logits(model, ids).pow(2).mean().backward()
        assert all(base_weight(m.base).grad is None and m.base.weight.grad is None for m in layers)
        opt.step()
        delta_lora.after_step(model)
        for m, (W, A, B) in zip(layers, before):
            expected = W + lam * (8 / R) * (m.B @ m.A - B @ A).detach() if t >= K else W
            torch.testing.assert_close(base_weight(m.base).detach(), expected, rtol=1e-6, atol=1e-7)
    assert any(not torch.equal(m.B, torch.zeros_like(m.B)) for m in layers)  # the update was not trivial


def test_dora_magnitude_init_and_detached_norm():
    torch.manual_seed(0)
    layer = DoRALinear(torch.nn.Linear(12, 6), peft_edu.inject.make_config("dora", r=3, alpha=6))
    W0 = layer.base.weight.detach()
    torch.testing.assert_close(layer.m.detach(), torch.linalg.vector_norm(W0, dim=1))
    randomize_adapters(layer)
    x = torch.randn(4, 12)
    layer(x).pow(2).sum().backward()
    ours = [layer.A.grad, layer.B.grad, layer.m.grad]
    # DoRA by hand (eq. 5), the norm treated as a constant (§4.3)
    A, B, m = (t.detach().clone().requires_grad_(True) for t in (layer.A, layer.B, layer.m))
    W = W0 + 2.0 * B @ A
    y = F.linear(x, (m / torch.linalg.vector_norm(W, dim=1).detach())[:, None] * W, layer.base.bias)
    y.pow(2).sum().backward()
    for got, want in zip(ours, [A.grad, B.grad, m.grad]):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(layer(x), y)


def _views_of_the_shared_pair(model) -> bool:
    """Every VeRA layer's A and B start at the storage of the model's one vera_A / vera_B (views, not copies)."""
    shared = model.vera_shared
    return all(m.A.data_ptr() == shared.vera_A.data_ptr() and m.B.data_ptr() == shared.vera_B.data_ptr()
               for m in model.modules() if isinstance(m, VeRALinear))


def test_vera_shares_one_pair_of_buffers(family):
    """One frozen random pair per model (VeRA §3.1), saved once, shared again after a deepcopy."""
    model = peft_edu.apply(make(family), "vera", r=R)
    assert not any(n.endswith(("vera_A", "vera_B")) for n, _ in model.named_parameters())
    layers = [m for m in model.modules() if isinstance(m, VeRALinear)]
    assert len(layers) == len(peft_edu.applied(model).arch.targets) >= 2
    assert _views_of_the_shared_pair(model)
    assert [k for k in model.state_dict() if "vera_" in k] == ["vera_shared.vera_A", "vera_shared.vera_B"]
    moved = copy.deepcopy(model)
    assert _views_of_the_shared_pair(moved)
    assert moved.vera_shared.vera_A.data_ptr() != model.vera_shared.vera_A.data_ptr()  # its own pair
    with torch.no_grad():
        moved.vera_shared.vera_A.mul_(2.0)  # one change to the pair reaches every layer of that model
    moved_layers = [m for m in moved.modules() if isinstance(m, VeRALinear)]
    assert all(torch.equal(m.A, 2.0 * m0.A) for m, m0 in zip(moved_layers, layers))
    assert all(torch.equal(m.b, torch.zeros_like(m.b)) and torch.allclose(m.d, torch.full_like(m.d, 0.1))
               for m in layers)


def test_dora_magnitude_change_read_from_weights_is_its_m():
    """The analysis reads ΔM from the merged weights' row norms; by DoRA's definition
    (W' = m · V/‖V‖ per row) those norms are the trained magnitude m itself, so ΔM must equal
    the mean |m_T − m_0| read from the layers' own parameter."""
    import copy

    import torch

    import peft_edu
    from peft_edu.lessons.transformer import TASK_B, pretrained, task_batch

    base = pretrained()
    names = fam.encoder_linears(base)
    W0 = fam.merged_weights(base, names)
    model = peft_edu.apply(copy.deepcopy(base), "dora", r=4, targets="all-linear", train_head=True)
    m0 = {n: model.bert.get_submodule(n).m.detach().double().clone() for n in names}
    ids, labels = task_batch(TASK_B, seed=1)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for _ in range(5):
        opt.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
    for name, W in fam.merged_weights(model, names).items():
        mag, _ = fam.row_changes(W0[name], W)
        m_T = model.bert.get_submodule(name).m.detach().double()
        assert np.allclose(np.abs(mag), (m_T - m0[name]).abs().numpy(), atol=1e-5), name


def test_dora_moves_magnitude_and_direction_less_together_than_lora():
    """DoRA §2: LoRA's low-rank update changes rows' lengths and directions together (a steep
    positive ΔM-ΔD slope); learning the length apart flattens it. Measured on real runs of the
    tiny BERT: DoRA's slope below half of LoRA's."""
    lora, dora = fam.magdir_scatter("lora"), fam.magdir_scatter("dora")
    assert len(lora.points) == len(dora.points) == 12 * (fam.MAGDIR_STEPS // fam.MAGDIR_EVERY)  # 2 blocks × 6 linears
    assert dora.slope < 0.5 * lora.slope
