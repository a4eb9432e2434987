"""A lab run's own memory split, against closed forms: weights, gradients and Adam's state from
the parameter counts, saved activations of a two-layer MLP from the shapes autograd must keep."""
from __future__ import annotations

import torch
from torch import nn

from peft_edu.lab.run_memory import RunMemory, SavedTensorMeter, state_split


def test_state_split_is_the_closed_form_for_adam():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    model[0].requires_grad_(False)  # a frozen first layer: weights only
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model(torch.randn(4, 8)).sum().backward()
    opt.step()
    weights, grads, state = state_split(model, opt)
    trainable = 16 * 2 + 2
    assert weights == 4 * (8 * 16 + 16 + trainable)
    assert grads == 4 * trainable
    assert state == 4 * 2 * trainable + 4 * 2  # exp_avg, exp_avg_sq per number; one float32 step per tensor


def test_saved_activations_of_an_mlp_step():
    """y = W2·relu(W1·x + b1) + b2 on a batch of 5: autograd keeps x (5×8, for W1's gradient),
    the ReLU's output (5×16, for W2's gradient and its own mask) — parameters are not counted."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    x = torch.randn(5, 8)
    meter = SavedTensorMeter()
    with meter.measure(model):
        loss = model(x).sum()
    loss.backward()
    assert meter.peak == 4 * (5 * 8 + 5 * 16)
    with meter.measure(model):  # a smaller batch later: the peak stays
        model(x[:2]).sum().backward()
    assert meter.peak == 4 * (5 * 8 + 5 * 16)


def test_total_is_the_sum_of_the_parts():
    m = RunMemory(weights=10, gradients=2, optimizer=4, activations=7, rss_growth=99)
    assert m.total == 23 and m.as_dict()["rss_growth"] == 99
