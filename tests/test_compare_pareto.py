"""The Compare race's measurements behind its Pareto chart, each against an independent check:
the Pareto front against a sweep, saved activations and state bytes against closed forms, and
forgetting as the difference of the pre-training loss (zero for the unchanged base)."""
from __future__ import annotations

import random

import torch
from torch import nn

from peft_edu.lessons import compare
from peft_edu.lessons.transformer import pretrained


def _sweep_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Another algorithm for the same set: sort by cost (then accuracy, best first) and keep each
    point more accurate than everything cheaper (an exact duplicate of a kept point is kept too:
    neither beats the other)."""
    order = sorted(points, key=lambda k: (points[k][0], -points[k][1]))
    front, best = [], None
    for k in order:
        if best is None or points[k][1] > best[1] or points[k] == best:
            front.append(k)
            best = points[k]
    return front


def test_pareto_front_matches_a_sweep_on_random_points():
    rng = random.Random(0)
    for trial in range(200):
        n = rng.randint(1, 12)
        points = {f"m{i}": (float(rng.randint(0, 6)), float(rng.randint(0, 6))) for i in range(n)}
        assert compare.pareto_front(points) == _sweep_front(points), points


def test_saved_activations_of_a_linear_layer_are_its_input():
    """For y = x Wᵀ + b autograd keeps x (to form W's gradient) and W (a parameter, counted as
    a weight, not here): 5 × 4 float32 numbers = 80 bytes."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    x = torch.randn(5, 4, requires_grad=True)
    assert compare.saved_activation_bytes(layer, lambda m: m(x).sum()) == 5 * 4 * 4


def test_state_bytes_of_lora_after_one_adam_step_is_the_closed_form():
    """All weights in fp32, plus for each trainable tensor its gradient and Adam's two moments
    (4 + 8 bytes per number) and Adam's step counter (one float32 each)."""
    import peft_edu

    model = peft_edu.apply(pretrained(), "lora", r=4, train_head=True)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ids = torch.randint(2, 32, (4, 9))
    model(input_ids=ids, labels=torch.zeros(4, dtype=torch.long)).loss.backward()
    opt.step()
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    expected = (sum(p.numel() for p in params) * 4 + sum(b.numel() * b.element_size() for b in model.buffers())
                + sum(p.numel() for p in trainable) * (4 + 8) + len(trainable) * 4)
    assert compare.state_bytes(model, opt) == expected


def test_forgetting_is_zero_for_the_base_and_larger_for_full_than_lora():
    """The unchanged pretrained model forgets nothing; full fine-tuning moves every weight and
    loses more of task A than LoRA (as 'LoRA Learns Less and Forgets Less', arXiv 2405.09673, finds
    on large models)."""
    base = pretrained()
    assert compare.forgetting(base) == 0.0
    full, lora = compare.race_one("full"), compare.race_one("lora")
    assert full.forgetting > lora.forgetting > 0
    assert 0.5 <= lora.test_accuracy <= 1.0 and full.test_accuracy > lora.test_accuracy
    assert full.memory_bytes > lora.memory_bytes > 0
