"""Apply a method to a model: freeze the base, inject the method's modules, count, merge.

``apply(model, "lora", r=8, targets="query,value")`` works on the toy MLP, BERT-family,
GPT-2-family and Llama/Mistral-family models. Keyword arguments are the method's
``Config`` fields (see ``peft_edu.methods.<key>``) plus two model-level options:

- ``targets``: which linear layers the LoRA family wraps, by module-name suffix
  (``"query,value"``, ``["c_attn"]``, ``"q_proj,v_proj"``) or ``"all-linear"`` (every linear
  layer except the head). Default: as Hugging Face peft per architecture (``arch.default_targets``).
- ``train_head``: keep the task head (classifier/score) trainable, like peft's
  ``modules_to_save``. Default: True for sequence classification, False otherwise.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass
from types import ModuleType

from torch import nn

from peft_edu.models import Arch, arch_of
from peft_edu.registry import get_method


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did to a model; stored on it as ``model.peft_edu_applied``."""

    method: str  # registry key
    config: object  # the method's frozen Config
    arch: Arch  # architecture description, with .targets = the adapted layers' full names
    train_head: bool  # whether the head modules (arch.head) train


def method_module(method: str) -> ModuleType:
    """``peft_edu.methods.<method>``, with an error naming the valid methods."""
    return importlib.import_module(get_method(method).module)


def make_config(method: str, **config):
    """The method's Config from keyword arguments; unknown keys name the valid ones."""
    module = method_module(method)
    fields = [f.name for f in dataclasses.fields(module.Config)]
    unknown = sorted(set(config) - set(fields))
    if unknown:
        options = ["targets"] if getattr(module, "USES_TARGETS", False) else []
        valid = ", ".join(fields + options + ["train_head"])
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {method}; valid: {valid}")
    return module.Config(**config)


def applied(model: nn.Module) -> Applied | None:
    """The ``Applied`` record of ``model``, or None if no method was applied."""
    return getattr(model, "peft_edu_applied", None)


def apply(model: nn.Module, method: str, *, targets=None, train_head: bool | None = None,
          **config) -> nn.Module:
    """Freeze ``model``, inject ``method`` in place and return the model."""
    module = method_module(method)
    cfg = make_config(method, **config)
    if applied(model) is not None:
        raise ValueError(f"this model already has {applied(model).method!r} applied; "
                         "apply a method once, to a fresh copy of the base model")
    arch = arch_of(model)
    names = resolve_targets(model, arch, targets, module, method)
    arch = dataclasses.replace(arch, targets=names)
    if train_head is None:
        train_head = arch.task == "seq_cls"
    model.requires_grad_(False)  # freeze the base: only the method's modules train
    module.inject(model, cfg, arch)
    if train_head:
        for name in arch.head:
            model.get_submodule(name).requires_grad_(True)
    model.peft_edu_applied = Applied(method, cfg, arch, bool(train_head))
    return model


# ---------------------------------------------------------------- targets
def linear_modules(model: nn.Module, arch: Arch) -> dict[str, nn.Module]:
    """Every linear layer (nn.Linear or GPT-2 Conv1D) outside the head, by full name."""
    from transformers.pytorch_utils import Conv1D

    heads = tuple(arch.head)
    return {name: m for name, m in model.named_modules()
            if isinstance(m, (nn.Linear, Conv1D))
            and not any(name == h or name.startswith(h + ".") for h in heads)}


def _short(name: str) -> str:
    """'bert.encoder.layer.3.attention.self.query' -> 'attention.self.query'."""
    parts = re.split(r"\.\d+\.", name)
    return parts[-1]


def resolve_targets(model: nn.Module, arch: Arch, targets, module: ModuleType,
                    method: str) -> tuple[str, ...]:
    """Full names of the layers to adapt; () for methods that do not take targets."""
    if not getattr(module, "USES_TARGETS", False):
        if targets is not None:
            raise ValueError(f"{method} does not take targets (it does not wrap linear layers)")
        return ()
    if targets is None:
        default = getattr(module, "default_targets", None)
        targets = default(arch) if default else arch.default_targets
    linear = linear_modules(model, arch)
    if targets == "all-linear":
        return tuple(linear)
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    chosen = []
    for t in targets:
        hits = [n for n in linear if n == t or n.endswith("." + t)]
        if not hits:
            names = ", ".join(dict.fromkeys(_short(n) for n in linear))
            raise ValueError(f"target {t!r} matches no linear layer; the linear layers are: "
                             f"{names} (or use 'all-linear')")
        chosen += [n for n in hits if n not in chosen]
    return tuple(n for n in linear if n in chosen)  # model order


# ---------------------------------------------------------------- counting, merging
def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with requires_grad (buffers, e.g. VeRA's A and B, are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def total_parameters(model: nn.Module) -> int:
    """All parameters, each shared (tied) tensor once; NF4-stored weights (QLoRA) count as
    the weights they hold, although they are 4-bit buffers rather than parameters."""
    from peft_edu.methods.qlora import NF4Linear

    quantized = sum(m.out_features * m.in_features for m in model.modules() if isinstance(m, NF4Linear))
    return sum(p.numel() for p in model.parameters()) + quantized


def layer_params(method: str, d_out: int, d_in: int, **config) -> int:
    """Closed-form trainable parameters ``method`` adds to one (d_out, d_in) linear layer."""
    for name, value in (("d_out", d_out), ("d_in", d_in)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return method_module(method).layer_params(d_out, d_in, make_config(method, **config))


def _mergeable_layers(model: nn.Module) -> list[nn.Module]:
    """Every injected module that can fold its update into the base weights."""
    info = applied(model)
    if info is None:
        raise ValueError("no method applied to this model; call peft_edu.apply first")
    spec = get_method(info.method)
    if not spec.mergeable:
        raise ValueError(f"{spec.name} cannot be merged ({spec.inference_cost}); "
                         f"mergeable methods: {', '.join(_mergeable_names())}")
    return [m for m in model.modules() if hasattr(m, "merged") and callable(getattr(m, "merge", None))]


def _mergeable_names() -> list[str]:
    from peft_edu.registry import METHODS

    return [key for key, spec in METHODS.items() if spec.mergeable]


def merge(model: nn.Module) -> nn.Module:
    """Fold every adapter's ΔW into its base weight (forward = base layers only)."""
    for layer in _mergeable_layers(model):
        layer.merge()
    return model


def unmerge(model: nn.Module) -> nn.Module:
    """Undo ``merge``: take ΔW back out of the base weights."""
    for layer in _mergeable_layers(model):
        layer.unmerge()
    return model
