"""Matrix lessons: one real training run per weight method on the toy task.

``matrix_run("lora", 4)`` applies ``peft_edu.apply`` to a copy of the toy MLP's first
layer, trains it with Adam and records, at evenly spaced steps, exactly the tensors the
method owns (read from the wrapped layer: ``base``, ``A``, ``B``, ``m``, ``delta_weight()``…).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

import peft_edu
from peft_edu.lessons.core import Run, TensorView, one_thread
from peft_edu.lessons.toy import ADAPTED, ToyData, ToyTask, fresh_copy, make_toy
from peft_edu.lessons.train import adam, fit, mse_on

LR = 0.02  # Adam learning rate of every matrix lesson (tuned once so 80 steps show the shape of training)
STEPS = 80  # optimizer steps of the animated run
FRAMES = 21  # snapshots in the animation

_W0 = TensorView("W0", "W₀", "frozen", "d_out", "d_in")
_B = TensorView("B", "B", "trainable", "d_out", "r")
_A = TensorView("A", "A", "trainable", "r", "d_in")
_DW = TensorView("dW", "ΔW = delta_weight()", "delta", "d_out", "d_in")


@dataclass(frozen=True)
class MethodSetup:
    """How a lesson builds and watches one method on the toy layer."""

    views: tuple[TensorView, ...]  # tensors drawn, left to right
    tensors: Callable[[nn.Module], dict[str, torch.Tensor]]  # layer -> tensors by view name
    size_arg: str  # name of the size knob in apply()'s config ("r"), or "" for none


def _lora_tensors(layer: nn.Module) -> dict[str, torch.Tensor]:
    return {"W0": layer.base.weight, "B": layer.B, "A": layer.A, "dW": layer.delta_weight()}


def _full_tensors(layer: nn.Module, W0: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"W": layer.weight, "dW": layer.weight - W0}


SETUPS: dict[str, MethodSetup] = {
    "lora": MethodSetup((_W0, _B, _A, _DW), _lora_tensors, "r"),
    "lora_plus": MethodSetup((_W0, _B, _A, _DW), _lora_tensors, "r"),
    "lora_fa": MethodSetup(
        (_W0, _B, TensorView("A", "A (random, fixed)", "frozen", "r", "d_in"), _DW), _lora_tensors, "r"),
    "dora": MethodSetup(
        (_W0, _B, _A, TensorView("m", "m (magnitude)", "trainable", "d_out", "1"),
         TensorView("dW", "ΔW = W′ − W₀", "delta", "d_out", "d_in")),
        lambda layer: {**_lora_tensors(layer), "m": layer.m}, "r"),
    "delta_lora": MethodSetup(
        (TensorView("W", "W (no gradient)", "moving", "d_out", "d_in"), _B, _A,
         TensorView("dW", "(α/r)·B·A", "delta", "d_out", "d_in"),
         TensorView("W_moved", "W − W₀ (moved by λ·Δ(BA))", "moving", "d_out", "d_in")),
        None, "r"),  # tensors need W0: built in _recorder
    "vera": MethodSetup(
        (_W0, TensorView("B", "B (shared, random)", "frozen", "d_out", "r"),
         TensorView("A", "A (shared, random)", "frozen", "r", "d_in"),
         TensorView("d", "d", "trainable", "r", "1"), TensorView("b", "b", "trainable", "d_out", "1"), _DW),
        lambda layer: {**_lora_tensors(layer), "d": layer.d, "b": layer.b}, "r"),
    "qlora": MethodSetup(
        (TensorView("W0", "W₀ (NF4, dequantized)", "frozen", "d_out", "d_in"), _B, _A, _DW),
        lambda layer: {"W0": layer.base.weight(), "B": layer.B, "A": layer.A, "dW": layer.delta_weight()},
        "r"),
    "full": MethodSetup(
        (TensorView("W", "W", "trainable", "d_out", "d_in"),
         TensorView("dW", "ΔW = W − W₀", "delta", "d_out", "d_in")), None, ""),
}


def available(method: str) -> bool:
    """True when the method has a matrix lesson and its module exists."""
    if method not in SETUPS:
        return False
    try:
        importlib.import_module(peft_edu.get_method(method).module)
    except ImportError:
        return False
    return True


def adapted_layer(model: nn.Module) -> nn.Module:
    return model.get_submodule(ADAPTED)


def build(method: str, size: int | None, data: ToyData, **config) -> nn.Module:
    """A copy of the toy base with ``method`` applied to its first layer (the head stays frozen)."""
    model = fresh_copy(data)
    setup = SETUPS[method]
    if setup.size_arg and size is not None:
        config = {setup.size_arg: size, **config}
        if method != "vera":  # VeRA has no alpha: its scale is learned in d and b
            config = {"alpha": float(size), **config}  # alpha = r: scaling 1 for every r
    targets = ADAPTED if method != "full" else None
    kwargs = {"targets": targets} if targets else {}
    return peft_edu.apply(model, method, train_head=False, **kwargs, **config)


def _recorder(method: str, layer: nn.Module) -> Callable[[], dict[str, torch.Tensor]]:
    if method == "full":
        W0 = layer.weight.detach().clone()
        return lambda: _full_tensors(layer, W0)
    if method == "delta_lora":
        W0 = layer.base.weight.detach().clone()
        return lambda: {"W": layer.base.weight, "B": layer.B, "A": layer.A,
                        "dW": layer.delta_weight(), "W_moved": layer.base.weight - W0}
    return lambda: SETUPS[method].tensors(layer)


def _optimizer(method: str, model: nn.Module, lr: float, config: dict) -> torch.optim.Optimizer:
    if method == "lora_plus":
        from peft_edu.methods import lora_plus

        return adam(model, lr, lora_plus.param_groups(model, lr, config.get("ratio", 16.0)))
    return adam(model, lr)


def _after_step(method: str, model: nn.Module) -> Callable[[int], None] | None:
    if method != "delta_lora":
        return None
    from peft_edu.methods import delta_lora

    return lambda step: delta_lora.after_step(model)


def matrix_run(method: str, size: int | None = 4, task: ToyTask = ToyTask(), steps: int = STEPS,
               lr: float = LR, n_frames: int = FRAMES, **config) -> Run:
    """Train ``method`` on the toy task and record its tensors and the loss."""
    if method not in SETUPS:
        raise ValueError(f"no matrix lesson for {method!r}; choose one of: {', '.join(SETUPS)}")
    with one_thread():
        return _matrix_run(method, size, task, steps, lr, n_frames, config)


def _matrix_run(method: str, size: int | None, task: ToyTask, steps: int, lr: float, n_frames: int,
                config: dict) -> Run:
    data = make_toy(task)
    model = build(method, size, data, **config)
    layer = adapted_layer(model)
    run = Run(method, SETUPS[method].views,
              caption=f"Toy task: a {task.d_in}→{task.d_hidden}→{task.n_out} MLP learns a shifted "
                      f"first layer (mean squared error on {task.n_samples} fixed samples, Adam, lr {lr}).")
    fit(run, model, mse_on(data.x, data.y), steps, _optimizer(method, model, lr, config),
        _recorder(method, layer), n_frames, _after_step(method, model))
    return run
