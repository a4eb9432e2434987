"""GaLore (arXiv 2403.03507) against the reference optimizer, galore-torch 1.0's GaLoreAdamW.

Independent references: galore-torch's GaLoreAdamW on a copy of the same model (the same
losses, so the same gradients while the weights agree) for several steps across projector
refreshes; numpy's SVD for the projector; closed forms for the optimizer state (2·r·n values
of Adam's moments for a (m, n) weight with m < n, 2·m·r with m >= n), the counts and the
calculator's optimizer bytes.
"""
import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import peft_edu
from peft_edu.methods import galore, protocol
from peft_edu.methods.layers import base_weight
from tests.tiny import batch, lab_bert, tiny_bert

galore_torch = pytest.importorskip("galore_torch")

R, T = 4, 3  # projection rank; a new projector every 3 steps (steps 0, 3, 6)
TARGETS = ["query", "intermediate.dense", "output.dense"]  # (32, 32), (64, 32): m > n, (32, 64): m < n


def loss_of(model):
    ids, mask = batch()
    logits = model(input_ids=ids, attention_mask=mask).logits
    return nn.functional.cross_entropy(logits, torch.tensor([0, 2]))


def applied(seed=0):
    model = peft_edu.apply(tiny_bert(seed=seed), "galore", r=R, update_proj_gap=T, targets=TARGETS)
    return model.train()  # dropout 0.1 in BERT: seeded per step below


def reference_optimizer(model, lr):
    """galore-torch's documented use: the GaLore weights in one group with rank etc., the rest plain."""
    weights = [base_weight(m.base) for m in model.modules() if isinstance(m, galore.GaLoreLinear)]
    ids = {id(w) for w in weights}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": rest},
              {"params": weights, "rank": R, "update_proj_gap": T, "scale": 0.25, "proj_type": "std"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return galore_torch.GaLoreAdamW(groups, lr=lr, weight_decay=0.0)


def step(model, optimizer, seed):
    torch.manual_seed(seed)
    optimizer.zero_grad(set_to_none=True)
    loss_of(model).backward()
    optimizer.step()


def test_update_equals_galore_torch_across_projector_refreshes():
    lr = 1e-2
    ours = applied()
    ref = copy.deepcopy(ours)
    opt = protocol("galore").make_optimizer(galore.param_groups(ours, lr, ours.peft_edu_applied.config),
                                            ours.peft_edu_applied.config)
    assert isinstance(opt, galore.GaLoreAdamW)
    ref_opt = reference_optimizer(ref, lr)
    start = {n: p.detach().clone() for n, p in ours.named_parameters()}
    for t in range(8):  # refreshes at steps 0, 3 and 6
        step(ours, opt, t)
        step(ref, ref_opt, t)
        for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
            assert torch.allclose(p, q, atol=1e-6, rtol=0), (t, name)
    moved = base_weight(ours.get_submodule("bert.encoder.layer.0.attention.self.query.base")) - \
        start["bert.encoder.layer.0.attention.self.query.base.weight"]
    assert moved.abs().max() > 1e-4  # the weights really trained (lr·α = 2.5e-3 per step at most)


def test_optimizer_state_is_two_r_n_and_the_projector_is_the_gradients_top_singular_vectors():
    model = applied()
    cfg = model.peft_edu_applied.config
    opt = galore.make_optimizer(galore.param_groups(model, 1e-2, cfg), cfg)
    layer = "bert.encoder.layer.0."
    W_out = base_weight(model.get_submodule(layer + "output.dense.base"))  # (32, 64): m < n, left
    W_mid = base_weight(model.get_submodule(layer + "intermediate.dense.base"))  # (64, 32): m >= n, right
    torch.manual_seed(0)
    loss_of(model).backward()
    G = W_out.grad.detach().numpy().astype(np.float64)
    opt.step()
    assert galore.state_numel(opt, W_out) == 2 * R * 64  # 2·r·n
    assert galore.state_numel(opt, W_mid) == 2 * 64 * R  # 2·m·r: the longer side stays
    full = 2 * 32 * 64
    assert galore.state_numel(opt, W_out) / full == pytest.approx(R / 32)
    P = opt.state[W_out]["P"].numpy()  # (32, r)
    U = np.linalg.svd(G)[0][:, :R]
    assert np.allclose(np.abs(U.T @ P), np.eye(R), atol=1e-4)  # the same subspace (up to signs)
    assert opt.state[W_mid]["P"].shape == (R, 32)  # Q: right singular vectors, rows


def test_projector_changes_every_T_steps_only():
    model = applied()
    cfg = model.peft_edu_applied.config
    opt = galore.make_optimizer(galore.param_groups(model, 1e-2, cfg), cfg)
    W = base_weight(model.get_submodule("bert.encoder.layer.0.output.dense.base"))
    projectors = []
    for t in range(7):
        step(model, opt, t)
        projectors.append(opt.state[W]["P"].clone())
    same = [torch.equal(projectors[i], projectors[i - 1]) for i in range(1, 7)]
    assert same == [True, True, False, True, True, False]  # new P at steps 3 and 6 (0-based)


def test_counts_are_the_whole_weights_of_the_targets():
    assert galore.layer_params(64, 32, galore.Config(r=4)) == 64 * 32
    assert peft_edu.layer_params("galore", 768, 768, r=128) == 768 * 768
    model = peft_edu.apply(tiny_bert(), "galore", targets=["query", "value"], r=R)
    head = sum(p.numel() for p in model.classifier.parameters())
    pooler = sum(p.numel() for p in model.bert.pooler.parameters()) if any(
        p.requires_grad for p in model.bert.pooler.parameters()) else 0
    assert peft_edu.trainable_parameters(model) == 2 * 2 * 32 * 32 + head + pooler  # biases stay frozen
    assert not model.bert.encoder.layer[0].attention.self.query.base.bias.requires_grad


def test_config_is_validated():
    with pytest.raises(ValueError, match="r must be an integer >= 1, got 0"):
        galore.Config(r=0)
    with pytest.raises(ValueError, match="update_proj_gap must be an integer >= 1"):
        galore.Config(update_proj_gap=0)
    with pytest.raises(ValueError, match="proj_type must be one of"):
        galore.Config(proj_type="diag")
    assert galore.Config() == galore.Config(r=128, update_proj_gap=200, scale=0.25, proj_type="std")


def test_works_on_any_model_with_linear_layers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    cfg = galore.Config(r=2, update_proj_gap=2)
    opt = galore.make_optimizer(galore.linear_groups(net, 1e-2, cfg), cfg)
    x, y = torch.randn(32, 8), torch.randn(32, 4)
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert float(loss) < first
    assert galore.state_numel(opt, net[0].weight) == 2 * 16 * 2  # (16, 8): m >= n, right side
    assert galore.state_numel(opt, net[0].bias) == 2 * 16  # plain Adam


def test_saved_file_holds_the_trained_weights():
    model = applied()
    cfg = model.peft_edu_applied.config
    opt = galore.make_optimizer(galore.param_groups(model, 1e-2, cfg), cfg)
    for t in range(3):
        step(model, opt, t)
    model.eval()
    import tempfile
    from peft_edu.export import load_adapter, save_adapter
    with tempfile.TemporaryDirectory() as d:
        save_adapter(model, d)
        plain = load_adapter(tiny_bert(), d)  # a plain model: the merged weights make it the tuned one
    ids, mask = batch()
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids, attention_mask=mask).logits,
                              model(input_ids=ids, attention_mask=mask).logits, atol=1e-6)


def test_calculator_optimizer_state_is_the_projected_one():
    from peft_edu.sizing.memory import ActivationSetup, ParamCounts, precision, training_memory
    from peft_edu.sizing.profile import ModelShape

    shape = ModelShape(n_layers=2, d_model=64, n_heads=4, n_kv_heads=4, d_ff=256, vocab=100)
    trainable = 2 * 2 * 64 * 64  # q and v of 2 blocks
    r = 8
    values = protocol("galore").optimizer_state_values(shape, galore.Config(r=r), ("q", "v"), trainable)
    assert values == 2 * 2 * (2 * 64 * r + r * 64)  # (64, 64): right side, 2·m·r moments + r·n projector
    counts = ParamCounts(trainable=trainable, total=10 * trainable, base_linear_frozen=0)
    prec = precision(16)
    setup = ActivationSetup(batch=1, seq=16)
    g = training_memory(shape, counts, "galore", prec, setup, targets=("q", "v"), r=r)
    assert g.optimizer == pytest.approx(4 * values + trainable * prec.master_bytes)
    assert protocol("full").optimizer_state_values(shape, None, ("q",), trainable) == 2 * trainable


def test_lab_loop_trains_with_galores_own_optimizer():
    from peft_edu.lab.run_config import defaults
    from peft_edu.lab.train import make_optimizer, prepare_model

    cfg = defaults("galore", r=2, update_proj_gap=2, steps=2)
    model = prepare_model(lab_bert(), cfg)
    assert isinstance(make_optimizer(model, cfg), galore.GaLoreAdamW)


def test_lesson_projector_refreshes_every_T_steps_and_saves_state():
    from peft_edu.lessons.wave2_galore import projector_run

    run = projector_run(steps=20, r=2, T=5)
    assert run.refreshes == [1, 6, 11, 16]
    # between refreshes P is the same matrix: its overlap with itself is 1 up to float32 rounding (~1e-6)
    assert all(o == pytest.approx(1.0, abs=1e-5) for i, o in enumerate(run.overlap, start=2) if i not in run.refreshes)
    jumps = [run.captured[s - 1] - run.captured[s - 2] for s in run.refreshes[1:]]
    assert sum(jumps) > 0  # a fresh P catches more of the gradient than the stale one
    assert run.moments < run.adam_moments and run.big_galore < run.big_adam / 20
    assert run.loss[-1] < run.loss[0]


def test_calculator_counts_the_targets_as_trained_and_their_state_as_projected():
    from peft_edu.sizing.config import CalcConfig
    from peft_edu.sizing.estimate import estimate_method

    config = CalcConfig(model="Llama-2-7B", targets=("q", "v"), r=8)
    e = estimate_method(config, "galore")
    assert e.counts["trainable_without_head"] == 32 * 2 * 4096 * 4096  # every q and v weight trains
    projected = 32 * 2 * (2 * 4096 * 8 + 8 * 4096)  # (4096, 4096): 2·m·r moments + r·n projector
    master = e.counts["trainable"] * 4  # bf16 mixed precision: an fp32 master copy
    assert e.memory.optimizer == pytest.approx(4 * (2 * (e.counts["trainable"] - 32 * 2 * 4096 * 4096) + projected)
                                               + master)
