"""Layer plumbing shared by the methods that wrap linear layers (the LoRA family, VeRA,
(IA)³, QLoRA, ...): find the linear layers, replace them by wrappers, read W0's shape and
storage whatever the layer type. Kept out of the method files so each of those shows its
own method only.

Layer types handled: ``nn.Linear``; GPT-2's ``Conv1D``, which stores W0 transposed as
(d_in, d_out); and QLoRA's ``NF4Linear`` (4-bit codes, no full-precision weight).
"""
from __future__ import annotations

import re
from typing import Callable

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


def linear_modules(model: nn.Module, arch) -> dict[str, nn.Module]:
    """Every linear layer (nn.Linear or GPT-2 Conv1D) outside the head, by full name."""
    heads = tuple(arch.head)
    return {name: m for name, m in model.named_modules()
            if isinstance(m, (nn.Linear, Conv1D))
            and not any(name == h or name.startswith(h + ".") for h in heads)}


def short_name(name: str) -> str:
    """'bert.encoder.layer.3.attention.self.query' -> 'attention.self.query'."""
    return re.split(r"\.\d+\.", name)[-1]


def wrap_targets(model: nn.Module, names, make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace each named submodule ``m`` by ``make(m)`` (the wrapper keeps it as ``base``)."""
    for name in names:
        model.set_submodule(name, make(model.get_submodule(name)))


def linear_shape(layer: nn.Module) -> tuple[int, int]:
    """(d_out, d_in) of nn.Linear, GPT-2's Conv1D (weight stored (d_in, d_out)) or NF4Linear."""
    if isinstance(layer, Conv1D):
        return layer.nf, layer.nx
    return layer.out_features, layer.in_features


def base_weight(layer: nn.Module) -> torch.Tensor:
    """W0 as a (d_out, d_in) view of the layer's own storage (Conv1D keeps W0ᵀ)."""
    if isinstance(layer, Conv1D):
        return layer.weight.T
    if isinstance(layer, nn.Linear):
        return layer.weight
    raise TypeError(f"{type(layer).__name__} has no full-precision weight to merge into")


def factory_kwargs(layer: nn.Module) -> dict:
    """device and dtype for new adapter tensors: those of the base weight."""
    if hasattr(layer, "compute_dtype"):  # NF4Linear: 4-bit codes, computes in this dtype
        return {"device": layer.packed.device, "dtype": layer.compute_dtype}
    return {"device": layer.weight.device, "dtype": layer.weight.dtype}


def first_target(model: nn.Module) -> nn.Module:
    """The first layer ``apply`` adapted (the one a method page draws)."""
    return model.get_submodule(model.peft_edu_applied.arch.targets[0])


def sum_over_targets(layer_params: Callable, arch, cfg) -> int:
    """The default ``model_params``: ``layer_params`` summed over the adapted layers."""
    return sum(layer_params(d_out, d_in, cfg) for d_out, d_in in arch.target_shapes())
