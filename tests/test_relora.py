"""ReLoRA (arXiv 2307.05695) against its definition, on real training runs.

Independent references: the model's own logits just before and just after every restart (a
restart merges s·B·A into W and starts B at 0, so nothing may change); numpy's rank of the
total change W − W0 after k restarts (above r: up to k·r); the optimizer's moments counted
after a restart (99 % zero); the jagged schedule against its closed form; the closed-form
count r·(d_in + d_out) against the built model.
"""
import math
import tempfile

import numpy as np
import pytest
import torch
from torch import nn

import peft_edu
from peft_edu.export import load_adapter, save_adapter
from peft_edu.methods import protocol, relora
from peft_edu.methods.layers import base_weight
from tests.tiny import batch, lab_bert, tiny_bert

R, K = 2, 5  # rank 2, a restart every 5 steps
QUERY = "bert.encoder.layer.0.attention.self.query"


def logits(model):
    ids, mask = batch()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def loss_of(model):
    ids, mask = batch()
    return nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, torch.tensor([0, 2]))


def applied(**config):
    options = {"r": R, "alpha": 2.0 * R, "reset_every": K, "warmup": 1, "restart_warmup": 1, **config}
    model = peft_edu.apply(tiny_bert(), "relora", targets=["query", "value"], **options)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0  # the equality checks below compare deterministic forward passes
    return model


def train(model, steps, before_restart=None, after_restart=None, lr=2e-2):
    """Adam with the method's hooks, as the loops use them (``after_optimizer_step``, ``lr_schedule``)."""
    spec, cfg = protocol("relora"), model.peft_edu_applied.config
    opt = torch.optim.AdamW(spec.param_groups(model, lr, cfg), lr=lr, weight_decay=0.0)
    for step in range(1, steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr * spec.lr_factor(step - 1, steps, cfg)
        opt.zero_grad()
        loss_of(model).backward()
        opt.step()
        restarting = step % cfg.reset_every == 0
        if restarting and before_restart is not None:
            before_restart(model, opt)
        spec.after_optimizer_step(model, opt, step, cfg)
        if restarting and after_restart is not None:
            after_restart(model, opt)
    return opt


def test_restart_keeps_the_model_and_merged_equals_unmerged():
    seen = []

    def before(model, opt):
        unmerged = logits(model)
        peft_edu.merge(model)
        merged = logits(model)
        peft_edu.unmerge(model)
        seen.append(unmerged)
        assert torch.allclose(merged, unmerged, atol=1e-5)

    def after(model, opt):
        assert torch.allclose(logits(model), seen[-1], atol=1e-5)  # the restart changed nothing
        layer = model.get_submodule(QUERY)
        assert torch.count_nonzero(layer.B) == 0  # B = 0 right after the restart
        assert layer.A.abs().max() > 0

    train(applied(), 3 * K, before, after)
    assert len(seen) == 3


def test_optimizer_state_is_pruned_by_magnitude_at_a_restart():
    kept = {}

    def before(model, opt):
        layer = model.get_submodule(QUERY)
        kept["before"] = opt.state[layer.A]["exp_avg"].clone()

    def after(model, opt):
        layer = model.get_submodule(QUERY)
        m = opt.state[layer.A]["exp_avg"]
        kept["after"] = m.clone()
        assert torch.count_nonzero(m) <= math.ceil(0.01 * m.numel())  # 99 % pruned
        v = opt.state[layer.A]["exp_avg_sq"]
        assert torch.count_nonzero(v) <= math.ceil(0.01 * v.numel())
        assert torch.all(v[m == 0] == 0)  # an entry loses both moments together

    train(applied(), K, before, after)
    b, a = kept["before"], kept["after"]
    survivors = a != 0
    assert torch.equal(a[survivors], b[survivors])  # survivors untouched
    assert b.abs()[survivors].min() >= b.abs()[~survivors].max()  # the largest ones survive


def test_total_change_reaches_a_rank_above_r_after_restarts():
    model = applied()
    W0 = base_weight(model.get_submodule(QUERY).base).detach().clone()
    ranks = []

    def after(model, opt):
        dW = (base_weight(model.get_submodule(QUERY).base) - W0).detach().numpy().astype(np.float64)
        s = np.linalg.svd(dW, compute_uv=False)
        ranks.append(int((s > 1e-6 * s[0]).sum()))

    train(model, 4 * K, after_restart=after)
    assert ranks == [R, 2 * R, 3 * R, 4 * R]  # k restarts: rank k·r, above r from the second on
    assert model.get_submodule(QUERY).restarts == 4


def test_jagged_cosine_schedule():
    cfg = relora.Config(r=4, reset_every=10, warmup=2, restart_warmup=3, min_lr_ratio=0.1)
    f = [relora.lr_schedule(s, 40, cfg) for s in range(40)]
    assert f[0] == pytest.approx(0.5) and f[1] == pytest.approx(1.0)  # warm-up
    cosine = lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 2) / 38))  # noqa: E731
    assert f[9] == pytest.approx(cosine(9))
    assert f[10] == pytest.approx(cosine(10) / 4) and f[12] == pytest.approx(cosine(12) * 3 / 4)  # re-warm-up
    assert f[13] == pytest.approx(cosine(13))
    assert relora.lr_schedule(39, 40, cfg) >= 0.1 - 1e-9


def test_counts_and_config():
    assert relora.layer_params(64, 32, relora.Config(r=8)) == 8 * (64 + 32)
    model = peft_edu.apply(tiny_bert(), "relora", targets=["query", "value"], r=4, train_head=False)
    assert peft_edu.trainable_parameters(model) == 2 * 2 * 4 * (32 + 32)
    assert relora.Config() == relora.Config(r=128, alpha=32.0, reset_every=5000, prune=0.99)
    with pytest.raises(ValueError, match="r must be an integer >= 1, got 0"):
        relora.Config(r=0)
    with pytest.raises(ValueError, match="restart_warmup"):
        relora.Config(reset_every=10, restart_warmup=10)


def test_saved_merged_weights_load_into_a_plain_model():
    model = applied()
    train(model, K + 2)  # one restart, then a non-zero B A on top of the merged W
    assert torch.count_nonzero(model.get_submodule(QUERY).B) > 0
    with tempfile.TemporaryDirectory() as d:
        save_adapter(model, d)
        plain = load_adapter(tiny_bert(), d)
        again = load_adapter(applied(), d)  # into ReLoRA layers: W merged, B = 0
    model.eval(), plain.eval(), again.eval()
    for m in again.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    assert torch.allclose(logits(plain), logits(model), atol=1e-5)
    assert torch.allclose(logits(again), logits(model), atol=1e-5)


def test_works_on_any_model_and_in_the_lab_loop():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).requires_grad_(False)
    cfg = relora.Config(r=2, alpha=2.0, reset_every=3, warmup=1, restart_warmup=1)
    assert relora.wrap_linears(net, cfg) == ["0", "2"]
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randn(4, 8)
    for step in range(1, 7):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
        relora.after_optimizer_step(net, opt, step, cfg)
    assert net[0].restarts == 2

    from peft_edu.lab.run_config import defaults
    from peft_edu.lab.train import train as lab_train
    from tests.tiny import WordTokenizer, tiny_task

    run = defaults("relora", r=2, reset_every=2, warmup=1, restart_warmup=1, steps=4, batch_size=8,
                   eval_every=4, max_length=16)
    result = lab_train(run, lab_bert(), WordTokenizer(), tiny_task(32), tiny_task(16, seed=1), device="cpu")
    assert result.status == "done"
    layer = next(m for m in result.model.modules() if isinstance(m, relora.ReLoRALinear))
    assert layer.restarts == 2


def test_lesson_rank_grows_with_restarts_and_lora_stays_at_r():
    from peft_edu.lessons.wave2_relora import restart_run

    run = restart_run(steps=24, r=2, K=8)
    assert run.restart_steps == [8, 16, 24]
    assert run.ranks == [2, 4, 6] and run.lora_rank == 2
