"""A tiny, deterministic full-batch training loop that records a ``Run``.

Everything a method needs beyond "loss.backward(); opt.step()" comes from its module
through the method protocol: its optimizer parameter groups (LoRA+), its own optimizer
(GaLore), its after-step update (Delta-LoRA's W), its restarts and learning-rate schedule
(ReLoRA): ``method_adam`` and ``method_after_step``.
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
    spec = protocol(info.method)
    groups = spec.param_groups(model, lr, info.config)
    if spec.make_optimizer is not None:  # the method's own optimizer (GaLore's projected Adam)
        return spec.make_optimizer(groups, info.config)
    return adam(model, lr, groups)


def method_after_step(model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                      steps: int | None = None) -> Callable[[int], None] | None:
    """The applied method's after-step update as a ``fit`` hook, or None when it has none.

    Given the ``optimizer`` (and the run's ``steps``), the hook also runs the method's
    ``after_optimizer_step`` and sets its ``lr_schedule`` factor for the next step (ReLoRA)."""
    from peft_edu.methods import protocol

    info = model.peft_edu_applied
    spec = protocol(info.method)
    update = spec.after_step
    restart = spec.after_optimizer_step if optimizer is not None else None
    scheduled = optimizer is not None and steps is not None and spec.has_lr_schedule
    if update is None and restart is None and not scheduled:
        return None
    base_lrs = [g["lr"] for g in optimizer.param_groups] if scheduled else []

    def set_lr(step: int) -> None:  # the rate of the step taken after ``step`` steps
        for group, lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = lr * spec.lr_factor(step, steps, info.config)

    if scheduled:
        set_lr(0)

    def hook(step: int) -> None:
        if update is not None:
            update(model)
        if restart is not None:
            restart(model, optimizer, step, info.config)
        if scheduled and step < steps:
            set_lr(step)

    return hook


def method_extra_loss(model: nn.Module) -> Callable[[nn.Module], torch.Tensor] | None:
    """The applied method's ``extra_loss`` (added to the loss before backward), or None."""
    from peft_edu.methods import protocol

    info = getattr(model, "peft_edu_applied", None)
    return None if info is None else protocol(info.method).extra_loss


def fit(run: Run, model: nn.Module, loss_fn: Callable[[nn.Module], torch.Tensor], steps: int,
        optimizer: torch.optim.Optimizer, record: Recorder | None = None, n_frames: int = 21,
        after_step: Callable[[int], None] | None = None) -> Run:
    """Train ``steps`` optimizer steps; loss before every step (and after the last) goes into
    ``run.loss``, and ``record()`` is snapshotted at ``n_frames`` evenly spaced steps."""
    torch.manual_seed(0)  # dropout or sampling inside a method stays reproducible
    model.train()
    at = snapshot_steps(steps, n_frames) if record is not None else set()
    extra = method_extra_loss(model)  # the method's own loss term (AdaLoRA's regulariser), or None
    for step in range(steps + 1):
        loss = loss_fn(model)
        run.loss.append(float(loss.detach()))
        if step in at:
            run.snapshot(step, record())
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        (loss if extra is None else loss + extra(model)).backward()
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
