"""A tiny, deterministic full-batch training loop that records a ``Run``.

Everything a method needs beyond "loss.backward(); opt.step()" comes from its module
through the method protocol: its optimizer parameter groups (LoRA+) and its after-step
update (Delta-LoRA's W): ``method_adam`` and ``method_after_step``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from peft_edu.lessons.core import Run, snapshot_steps

Recorder = Callable[[], dict[str, torch.Tensor]]  # returns the tensors to draw, by name


def adam(model: nn.Module, lr: float, groups: list[dict] | None = None) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, or over the method's own parameter groups."""
    params = groups if groups is not None else [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=lr)


def method_adam(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam over the applied method's own parameter groups (``peft_edu.methods.protocol``)."""
    from peft_edu.methods import protocol

    info = model.peft_edu_applied
    return adam(model, lr, protocol(info.method).param_groups(model, lr, info.config))


def method_after_step(model: nn.Module) -> Callable[[int], None] | None:
    """The applied method's after-step update as a ``fit`` hook, or None when it has none."""
    from peft_edu.methods import protocol

    update = protocol(model.peft_edu_applied.method).after_step
    return None if update is None else (lambda step: update(model))


def fit(run: Run, model: nn.Module, loss_fn: Callable[[nn.Module], torch.Tensor], steps: int,
        optimizer: torch.optim.Optimizer, record: Recorder | None = None, n_frames: int = 21,
        after_step: Callable[[int], None] | None = None) -> Run:
    """Train ``steps`` optimizer steps; loss before every step (and after the last) goes into
    ``run.loss``, and ``record()`` is snapshotted at ``n_frames`` evenly spaced steps."""
    torch.manual_seed(0)  # dropout or sampling inside a method stays reproducible
    model.train()
    at = snapshot_steps(steps, n_frames) if record is not None else set()
    for step in range(steps + 1):
        loss = loss_fn(model)
        run.loss.append(float(loss.detach()))
        if step in at:
            run.snapshot(step, record())
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(step + 1)
    model.eval()
    return run


def mse_on(x: torch.Tensor, y: torch.Tensor) -> Callable[[nn.Module], torch.Tensor]:
    """Mean squared error of the model's outputs on one fixed batch."""

    def loss_fn(model: nn.Module) -> torch.Tensor:
        return nn.functional.mse_loss(model(x), y)

    return loss_fn
