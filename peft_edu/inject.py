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
from dataclasses import dataclass
from types import ModuleType

from torch import nn

from peft_edu.methods import Method, protocol
from peft_edu.methods.layers import linear_modules, short_name
from peft_edu.models import Arch, arch_of
from peft_edu.registry import METHODS, get_method


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did to a model; stored on it as ``model.peft_edu_applied``."""

    method: str  # registry key
    config: object  # the method's frozen Config
    arch: Arch  # architecture description, with .targets = the adapted layers' full names
    train_head: bool  # whether the head modules (arch.head) train


def method_module(method: str) -> ModuleType:
    """``peft_edu.methods.<method>``, with an error naming the valid methods."""
    return protocol(method).module


def make_config(method: str, **config):
    """The method's Config from keyword arguments; unknown keys name the valid ones."""
    return protocol(method).config(**config)


def applied(model: nn.Module) -> Applied | None:
    """The ``Applied`` record of ``model``, or None if no method was applied."""
    return getattr(model, "peft_edu_applied", None)


def apply(model: nn.Module, method: str, *, targets=None, train_head: bool | None = None,
          **config) -> nn.Module:
    """Freeze ``model``, inject ``method`` in place and return the model."""
    spec = protocol(method)
    cfg = spec.config(**config)
    if applied(model) is not None:
        raise ValueError(f"this model already has {applied(model).method!r} applied; "
                         "apply a method once, to a fresh copy of the base model")
    arch = arch_of(model)
    names = resolve_targets(model, arch, targets, spec)
    arch = dataclasses.replace(arch, targets=names)
    if train_head is None:
        train_head = arch.task == "seq_cls"
    model.requires_grad_(False)  # freeze the base: only the method's modules train
    spec.inject(model, cfg, arch)
    if train_head:
        for name in arch.head:
            model.get_submodule(name).requires_grad_(True)
    model.peft_edu_applied = Applied(method, cfg, arch, bool(train_head))
    return model


# ---------------------------------------------------------------- targets
def resolve_targets(model: nn.Module, arch: Arch, targets, spec: Method) -> tuple[str, ...]:
    """Full names of the layers to adapt; () for methods that do not take targets.

    A target names layers by their path inside a block: ``"output.dense"`` is BERT's FFN
    output only, never ``attention.output.dense``. A target that is no block's exact path
    matches by its end, as in peft: ``"query"``, ``"dense"`` (all three dense layers),
    ``"c_attn"``. Full names (``"bert.encoder.layer.0.attention.self.query"``) work too."""
    if not spec.uses_targets:
        if targets is not None:
            raise ValueError(f"{spec.key} does not take targets (it does not wrap linear layers)")
        return ()
    if targets is None:
        targets = spec.default_targets(arch)
    linear = linear_modules(model, arch)
    if targets == "all-linear":
        return tuple(linear)
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    relative = {name: arch.relative(name) for name in linear}
    chosen: set[str] = set()
    for t in targets:
        hits = [n for n, rel in relative.items() if n == t or rel == t]
        if not hits:  # no exact path: match by the end of the path
            hits = [n for n, rel in relative.items() if rel.endswith("." + t)]
        if not hits:
            names = ", ".join(dict.fromkeys(short_name(n) for n in linear))
            raise ValueError(f"target {t!r} matches no linear layer; the linear layers are: "
                             f"{names} (or use 'all-linear')")
        chosen.update(hits)
    return tuple(n for n in linear if n in chosen)  # model order


# ---------------------------------------------------------------- counting, merging
def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with requires_grad (buffers, e.g. VeRA's A and B, are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def total_parameters(model: nn.Module) -> int:
    """All parameters, each shared (tied) tensor once; weights stored in another form
    (QLoRA's 4-bit buffers) count as the weights they hold: a module's ``n_weights``."""
    stored = sum(getattr(m, "n_weights", 0) for m in model.modules())
    return sum(p.numel() for p in model.parameters()) + stored


def layer_params(method: str, d_out: int, d_in: int, **config) -> int:
    """Closed-form trainable parameters ``method`` adds to one (d_out, d_in) linear layer."""
    for name, value in (("d_out", d_out), ("d_in", d_in)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    spec = protocol(method)
    return spec.layer_params(d_out, d_in, spec.config(**config))


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
