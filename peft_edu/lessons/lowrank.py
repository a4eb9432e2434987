"""Matrix lessons: one real training run per weight method on the toy task.

``matrix_run("lora", 4)`` applies ``peft_edu.apply`` to a copy of the toy MLP's first
layer, trains it with Adam and records, at evenly spaced steps, exactly the tensors the
method owns: what its module's ``watch`` names (``W0``, ``A``, ``B``, ``m``, ``delta_weight()``…).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

import peft_edu
from peft_edu.lessons.core import Run, TensorView, one_thread
from peft_edu.lessons.toy import ADAPTED, ToyData, ToyTask, fresh_copy, make_toy
from peft_edu.lessons.train import fit, method_adam, method_after_step, mse_on
from peft_edu.methods import protocol
from peft_edu.registry import get_method

LR = 0.02  # Adam learning rate of every matrix lesson (tuned once so 80 steps show the shape of training)
STEPS = 80  # optimizer steps of the animated run
FRAMES = 21  # snapshots in the animation

def available(method: str) -> bool:
    """True when the method's page run is on the toy layer (its module's ``LESSON``)."""
    return protocol(method).lesson.model == "layer"


def adapted_layer(model: nn.Module) -> nn.Module:
    return model.get_submodule(ADAPTED)


def build(method: str, size: int | None, data: ToyData, **config) -> nn.Module:
    """A copy of the toy base with ``method`` applied to its first layer (the head stays frozen).

    Knobs: the method's ``LESSON`` config; ``size`` sets its size knob, and alpha = size
    where the method has an alpha (scaling alpha / r = 1 at every rank); ``config`` overrides."""
    spec = protocol(method)
    options = dataclasses.asdict(spec.lesson.config)
    knob = get_method(method).size_knob
    if knob and size is not None:
        options[knob] = size
        if "alpha" in options:
            options["alpha"] = float(size)
    targets = {"targets": ADAPTED} if spec.uses_targets else {}
    model = fresh_copy(data)
    torch.manual_seed(0)  # the method's random init is the same whatever ran before in this process
    return peft_edu.apply(model, method, train_head=False, **targets, **{**options, **config})


def views_of(model: nn.Module) -> tuple[tuple[TensorView, ...], Callable[[], dict[str, torch.Tensor]]]:
    """What the method's module says to draw (``watch``), as views and a snapshot reader."""
    watched = protocol(model.peft_edu_applied.method).watch(model)
    views = tuple(TensorView(w.name, w.title, w.role, w.rows, w.cols) for w in watched)
    return views, lambda: {w.name: w.read() for w in watched}


def matrix_run(method: str, size: int | None = 4, task: ToyTask = ToyTask(), steps: int = STEPS,
               lr: float = LR, n_frames: int = FRAMES, **config) -> Run:
    """Train ``method`` on the toy task and record its tensors and the loss."""
    if not available(method):
        layer_methods = ", ".join(k for k in peft_edu.METHODS if available(k))
        raise ValueError(f"no matrix lesson for {method!r}; choose one of: {layer_methods}")
    with one_thread():
        return _matrix_run(method, size, task, steps, lr, n_frames, config)


def _matrix_run(method: str, size: int | None, task: ToyTask, steps: int, lr: float, n_frames: int,
                config: dict) -> Run:
    data = make_toy(task)
    model = build(method, size, data, **config)
    views, record = views_of(model)
    run = Run(method, views,
              caption=f"Toy task: a {task.d_in}→{task.d_hidden}→{task.n_out} MLP learns a shifted "
                      f"first layer (mean squared error on {task.n_samples} fixed samples, Adam, lr {lr}).")
    optimizer = method_adam(model, lr)
    fit(run, model, mse_on(data.x, data.y), steps, optimizer, record, n_frames,
        method_after_step(model, optimizer, steps))
    return run
