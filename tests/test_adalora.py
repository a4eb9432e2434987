"""AdaLoRA (arXiv 2303.10512) against its definition and Hugging Face peft's ADALORA.

Independent references: peft's SVDLinear on the same weights (equal logits and counts);
peft's RankAllocator training alongside ours on the same batches (the same λ, P, Q and the
same rank pattern after every step, regulariser off: the two forms differ by design); peft
loading our saved adapter and ours loading peft's pruned one (rank_pattern); closed forms
for the count, the cubic budget and the regulariser (zero for orthonormal P, Q).
"""
import copy
import json
import math
import warnings

import numpy as np
import pytest
import torch
from peft import AdaLoraConfig, PeftModel, get_peft_model

import peft_edu
from peft_edu.methods import adalora
from tests.tiny import batch, family_logits, quiet, tiny_bert, tiny_gpt2

TARGETS = {"bert": ["query", "value"], "gpt2": ["c_attn"]}
FAMILIES = {"bert": tiny_bert, "gpt2": tiny_gpt2}
HEADS = {"bert": "classifier", "gpt2": "score"}
R, R0, ALPHA, T = 2, 4, 8.0, 10  # target rank, starting rank, scale 8 / 4 = 2, total steps


logits = family_logits


def ours_on(base, family, **config):
    options = dict(r=R, init_r=R0, alpha=ALPHA, total_step=T, targets=TARGETS[family], **config)
    return peft_edu.apply(copy.deepcopy(base), "adalora", **options)


def peft_adalora(base, family, **config):
    config = AdaLoraConfig(init_r=R0, target_r=R, lora_alpha=ALPHA, total_step=T, target_modules=TARGETS[family],
                           task_type="SEQ_CLS", fan_in_fan_out=family == "gpt2", **config)
    return quiet(get_peft_model, copy.deepcopy(base), config)


def share(ours, theirs, family, seed=3):
    """peft's P, Q (its random start) into ours, a random λ into both, our head into peft's."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in peft_edu.applied(ours).arch.targets:
            mine, layer = ours.get_submodule(name), theirs.base_model.model.get_submodule(name)
            mine.P.copy_(layer.lora_B["default"])
            mine.Q.copy_(layer.lora_A["default"])
            mine.E.copy_(0.5 * torch.randn(R0, generator=gen))
            layer.lora_E["default"].copy_(mine.E[:, None])
        theirs.base_model.model.get_submodule(HEADS[family]).modules_to_save["default"].load_state_dict(
            ours.get_submodule(HEADS[family]).state_dict())


def trained(model, seed=11):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def test_counts_closed_form_and_defaults():
    # r0 (d_in + d_out + 1): P, λ and Q of every starting triplet
    assert peft_edu.layer_params("adalora", 1000, 1000, r=8, init_r=12) == 12 * 2001 == 24_012
    assert peft_edu.layer_params("adalora", 4096, 4096, r=8) == 12 * 8193  # init_r 0: ⌈1.5 r⌉ = 12
    # roberta-base, query and value of 12 layers (768 × 768), r0 = 12: 24 · 12 · 1537
    assert peft_edu.count("roberta-base", "adalora", r=8)["trainable_without_head"] == 24 * 12 * 1537 == 442_656
    assert adalora.Config(r=1).start_rank == 2 and adalora.Config(r=4).start_rank == 6
    assert adalora.Config().scaling == 1.0 and adalora.Config(alpha=16.0, init_r=12).scaling == 16 / 12
    for bad, message in (({"r": 0}, "r must be"), ({"r": 8, "init_r": 4}, "init_r must be"),
                         ({"beta1": 1.0}, "beta1 must be"), ({"total_step": 10, "tinit": 5, "tfinal": 5}, "tinit"),
                         ({"delta_t": 0}, "delta_t must be")):
        with pytest.raises(ValueError, match=message):
            adalora.Config(**bad)


@pytest.mark.parametrize("family", FAMILIES)
def test_equal_to_peft_on_shared_weights(family):
    base = FAMILIES[family]()
    ours, theirs = ours_on(base, family), peft_adalora(base, family)
    share(ours, theirs, family)
    torch.testing.assert_close(logits(theirs.eval(), family), logits(ours.eval(), family), rtol=1e-5, atol=1e-5)
    n_layers = len(peft_edu.applied(ours).arch.targets)
    d_out = {"bert": 32, "gpt2": 96}[family]  # BERT's query/value 32 → 32; GPT-2's fused c_attn 32 → 96
    head = 32 * 3 + 3 if family == "bert" else 32 * 3  # GPT-2's score has no bias
    assert peft_edu.trainable_parameters(ours) == n_layers * R0 * (32 + d_out + 1) + head
    assert theirs.get_nb_trainable_parameters()[0] == peft_edu.trainable_parameters(ours)
    layer = ours.get_submodule(peft_edu.applied(ours).arch.targets[0])
    expected = (ALPHA / R0) * layer.P @ torch.diag(layer.E) @ layer.Q  # s · P Λ Q
    torch.testing.assert_close(layer.delta_weight(), expected)
    before = logits(ours, family)
    peft_edu.merge(ours)
    torch.testing.assert_close(logits(ours, family), before, rtol=1e-5, atol=1e-5)
    peft_edu.unmerge(ours)


@pytest.mark.parametrize("family", FAMILIES)
def test_allocation_follows_peft_step_by_step(family):
    """Same batches, same Adam: importance, cubic budget and masking as peft's RankAllocator."""
    base = FAMILIES[family]()
    ours, theirs = ours_on(base, family, gamma=0.0, tinit=2, tfinal=3), \
        peft_adalora(base, family, orth_reg_weight=0.0, tinit=2, tfinal=3)
    share(ours, theirs, family)
    ours.eval(), theirs.eval()  # no dropout: both see the same forward pass
    opt_ours = torch.optim.Adam([p for p in ours.parameters() if p.requires_grad], lr=1e-2)
    opt_theirs = torch.optim.Adam([p for p in theirs.parameters() if p.requires_grad], lr=1e-2)
    ids, mask = batch(pad=family != "gpt2")
    labels = torch.tensor([0, 2])
    names = peft_edu.applied(ours).arch.targets
    patterns = []
    for step in range(1, T + 3):  # two steps past T: the final pattern stays
        loss = torch.nn.functional.cross_entropy(ours(input_ids=ids, attention_mask=mask).logits, labels)
        opt_ours.zero_grad()
        (loss + adalora.extra_loss(ours)).backward()
        opt_ours.step()
        adalora.after_step(ours)
        out = theirs(input_ids=ids, attention_mask=mask, labels=labels)
        opt_theirs.zero_grad()
        out.loss.backward()
        opt_theirs.step()
        theirs.base_model.update_and_allocate(step)
        pattern = theirs.peft_config["default"].rank_pattern
        if pattern:
            assert {n: list(ours.get_submodule(n).mask.tolist()) for n in names} == \
                   {n: pattern[f"{n}.lora_E.default"] for n in names}, step
        for n in names:
            mine, layer = ours.get_submodule(n), theirs.base_model.model.get_submodule(n)
            torch.testing.assert_close(mine.E, layer.lora_E["default"][:, 0], rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(mine.P, layer.lora_B["default"], rtol=1e-4, atol=1e-6)
        patterns.append(adalora.ranks(ours))
    assert sum(patterns[-1].values()) == len(names) * R  # b(T) = n · r
    assert patterns[-1] == patterns[-3]  # fixed after T − t_f


def test_cubic_budget_closed_form():
    cfg = adalora.Config(r=2, init_r=6, total_step=100, tinit=10, tfinal=20, delta_t=5)
    n = 3
    b0, bT = n * 6, n * 2
    assert adalora.budget(10, cfg, n) == (b0, False)  # warm-up: the full budget, no allocation
    for t in (11, 15, 40, 79, 80):
        expected = int(bT + (b0 - bT) * (1 - (t - 10) / (100 - 10 - 20)) ** 3)  # §3.3
        assert adalora.budget(t, cfg, n) == (expected, t % 5 == 0)
    assert adalora.budget(80, cfg, n)[0] == bT and adalora.budget(81, cfg, n) == (bT, True)


def test_regulariser_zero_for_orthonormal_and_the_closed_form():
    model = peft_edu.apply(tiny_bert(), "adalora", r=2, init_r=4, gamma=0.3)
    layers = list(adalora.svd_layers(model).values())
    with torch.no_grad():
        for i, layer in enumerate(layers):
            q_p, _ = torch.linalg.qr(torch.randn(32, 4, generator=torch.Generator().manual_seed(i)))
            q_q, _ = torch.linalg.qr(torch.randn(32, 4, generator=torch.Generator().manual_seed(50 + i)))
            layer.P.copy_(q_p)  # orthonormal columns
            layer.Q.copy_(q_q.T)  # orthonormal rows
    assert float(adalora.extra_loss(model).detach()) == pytest.approx(0.0, abs=1e-9)
    trained(model)
    P, Q = (np.array([getattr(l, n).detach().double().numpy() for l in layers]) for n in ("P", "Q"))
    eye = np.eye(4)
    expected = 0.3 * sum(np.sum((p.T @ p - eye) ** 2) + np.sum((q @ q.T - eye) ** 2) for p, q in zip(P, Q))
    assert float(adalora.extra_loss(model).detach()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_with_peft(family, tmp_path):
    base = FAMILIES[family]()
    ours = trained(ours_on(base, family))
    first = ours.get_submodule(peft_edu.applied(ours).arch.targets[0])
    first.mask[1:3] = False  # a pruned pair: λ = 0, still saved (every triplet is)
    first.apply_mask()
    peft_edu.save_adapter(ours, tmp_path / "ours")
    config = json.loads((tmp_path / "ours" / "adapter_config.json").read_text())
    assert config["peft_type"] == "ADALORA" and config["init_r"] == R0 and config["target_r"] == R
    theirs = quiet(PeftModel.from_pretrained, copy.deepcopy(base), str(tmp_path / "ours")).eval()
    torch.testing.assert_close(logits(theirs, family), logits(ours.eval(), family), rtol=1e-5, atol=1e-5)
    again = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "ours")
    assert peft_edu.applied(again).method == "adalora"
    torch.testing.assert_close(logits(again.eval(), family), logits(ours, family), rtol=1e-5, atol=1e-5)

    # peft trains and allocates, then saves only the kept triplets and their rank_pattern
    peft_trained = peft_adalora(base, family)
    opt = torch.optim.Adam([p for p in peft_trained.parameters() if p.requires_grad], lr=1e-2)
    ids, mask = batch(pad=family != "gpt2")
    for step in range(1, T + 1):
        out = peft_trained(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2]))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        peft_trained.base_model.update_and_allocate(step)
    quiet(peft_trained.save_pretrained, str(tmp_path / "theirs"))
    saved = json.loads((tmp_path / "theirs" / "adapter_config.json").read_text())
    kept = {k: sum(v) for k, v in saved["rank_pattern"].items()}
    assert sum(kept.values()) == len(kept) * R  # b(T) = n · r, split by importance
    mine = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "theirs")  # no metadata: read from the config
    assert peft_edu.applied(mine).method == "adalora"
    assert {f"{n}.lora_E": k for n, k in adalora.ranks(mine).items()} == kept
    torch.testing.assert_close(logits(mine.eval(), family), logits(peft_trained.eval(), family),
                               rtol=1e-5, atol=1e-5)
    # the kept triplets' parameters: what peft's pruned file holds
    from safetensors import safe_open
    with safe_open(str(tmp_path / "theirs" / "adapter_model.safetensors"), framework="pt") as f:
        in_file = sum(f.get_tensor(k).numel() for k in f.keys() if ".lora_" in k)
    assert adalora.kept_params(mine) == in_file


def test_lesson_ranks_move_between_layers():
    from peft_edu.lessons.wave2_adalora import rank_run

    run = rank_run(steps=30, tinit=3, tfinal=8)
    n = len(run.layers)
    assert run.ranks.shape == (n, 31) and (run.ranks[:, 0] == run.r0).all()
    assert run.ranks[:, -1].sum() == n * run.r == run.budget[-1]
    assert len(set(run.ranks[:, -1].tolist())) > 1  # uneven: the budget moved between layers
    assert all(b1 >= b2 for b1, b2 in zip(run.budget, run.budget[1:]))  # the budget only falls
    assert math.isfinite(run.loss[-1]) and run.loss[-1] < run.loss[0]
