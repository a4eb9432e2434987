"""One module per PEFT method; the module name is the registry key.

The protocol. Every consumer (``apply``, counts, the lab, the lessons, the calculator,
export, the quiz) reaches a method through ``protocol(key)``, which reads these names
from the method's module and fills in the defaults for the optional ones. No consumer
keeps a table of method keys.

Required in every method module:

``Config``
    A frozen dataclass of the method's knobs, a comment per field, the paper's defaults
    (REFERENCE.md says where they differ from Hugging Face ``peft``). ``__post_init__``
    validates and raises ``ValueError`` naming the valid range ("r must be >= 1, got 0").
``layer_params(d_out, d_in, cfg) -> int``
    Closed-form count of the trainable parameters the method adds to ONE linear layer
    of shape (d_out, d_in). Per-model methods (prompt and prefix tuning, ``PER_MODEL``)
    raise ``ValueError`` pointing to ``model_params``.
``inject(model, cfg, arch) -> None``
    Modifies the (already frozen) model in place: wraps the layers named in
    ``arch.targets`` (the frozen layer is kept as ``.base``) or attaches the method's
    modules. ``arch`` is ``peft_edu.models.Arch``.
``USES_TARGETS: bool``
    True when ``apply(targets=...)`` chooses the linear layers the method wraps.
``LAB: LabDefaults``
    The live lab's default run for this method (learning rate, steps, Config), measured
    on all-MiniLM-L6-v2 and the shipped data.
``watch(model) -> list[Watched]``
    The tensors the method page draws, step by step, of the applied model.

Optional (``protocol`` supplies the default):

``model_params(arch, cfg) -> int``
    Trainable parameters for a whole model described by ``arch`` (``arch.targets`` holds
    the adapted layers). Default: ``layer_params`` summed over ``arch.target_shapes()``.
``param_groups(model, lr, cfg) -> list[dict]``
    Optimizer parameter groups. Default: every trainable parameter at ``lr``.
``after_step(model) -> None``
    Called right after every ``optimizer.step()``. Default: nothing to do.
``extra_loss(model) -> Tensor``
    A term the training loops add to the task loss before ``backward()`` (AdaLoRA's
    orthogonality regulariser); the reported loss stays the task loss. Default: none.
``make_optimizer(groups, cfg) -> torch.optim.Optimizer``
    The method's own optimizer over ``groups`` (its ``param_groups``, plus the loop's head
    group): GaLore's projected Adam. Default: the loop's AdamW (Adam in the lessons).
``after_optimizer_step(model, optimizer, step, cfg) -> None``
    Called right after ``after_step``, with the optimizer and ``step``, the number of optimizer
    steps taken so far (1, 2, ...): ReLoRA merges, restarts and prunes the optimizer state.
    Default: nothing to do.
``lr_schedule(step, steps, cfg) -> float``
    Factor on every group's learning rate for the optimizer step taken after ``step`` steps
    (0-based) of a run of ``steps``: ReLoRA's jagged cosine. Default: 1 (a constant rate).
``optimizer_state_values(shape, cfg, targets, trainable) -> int``
    fp32 values the optimizer keeps for the calculator (``shape``: ``ModelShape``,
    ``targets`` generic names, ``trainable`` the model's count). Default: Adam's 2 per
    trainable parameter (GaLore keeps 2·r·n + m·r per projected (m, n) weight).
``trained_linear_params(shape, cfg, targets) -> int``
    Weights of the blocks' linear layers that the method trains itself (GaLore: the targeted
    ones), so the calculator does not count them as frozen (nor store them in NF4). Default: 0
    (every block weight frozen; a method that TRAINS_BASE trains them all).
``default_targets(arch) -> tuple[str, ...]``
    Targets when ``apply`` gets none. Default: ``arch.default_targets`` (as peft).
``LESSON: LessonDefaults``
    The method page's tiny real run: on which model ("layer": the toy MLP's first layer;
    "transformer": the tiny pretrained BERT) and with which Config (the page's size
    slider overrides the size knob). Default: the toy layer with ``Config()``.
``PER_MODEL: bool``
    True when the method adds parameters per model, not per layer (``layer_params``
    raises). Default: False.
``activation_profile(shape, cfg, targets) -> ActivationProfile``
    What the method makes autograd keep for the backward pass in each layer of a
    transformer (``peft_edu.sizing.profile``: ``shape`` is its ``ModelShape``, ``targets``
    the adapted layers as the calculator's generic names q, k, v, o, mlp). The calculator's
    activation memory comes from it. Default: none; the calculator leaves the method out,
    saying so.
``TRAINS_BASE: bool``
    True when the method trains the base model's own weights (full fine-tuning): none stay
    frozen, so none can be stored in 4 bits, and the saved result is the whole model.
    Default: False.
``NF4_BASE: bool``
    True when the frozen base's block linear layers are stored in NF4 (QLoRA), whatever
    precision the rest trains in. Default: False.
``COUNT_AFFINE: bool``
    True when a model's trainable count is an affine function of the size knob, so the
    calculator may extrapolate it from the knob at 1 and 2. False for LoKr (a factor turns
    from low-rank to full above a rank). Default: True.
``PEFT_NAMES: dict[str, str]``
    peft tensor suffix for each of the layer's tensors (``{"A": "lora_A.weight"}``), for
    the methods Hugging Face peft has; see ``peft_edu.export``. The method's layers are
    the modules that hold all of these tensors; one a layer holds as None is not saved
    (LoKr: each factor is full or low-rank). Default: none.

Optional, for ``peft_edu.export`` (adapters on disk):

``SAVED_AS: str``
    "peft" (Hugging Face peft's format, as the registry's ``hf_peft_type``), "peft_edu"
    (our own: every trainable tensor under its own name), "merged" (our own: W + ΔW of
    every adapted layer) or "model" (no adapter: the whole model is the result).
    Default: "model" for a method that TRAINS_BASE, else "peft" where the registry names a
    peft_type, else "peft_edu".
``PEFT_PREFIX: str``
    peft's key prefix for tensors inside the model. Default "base_model.model." (peft's
    tuner wraps the model); prompt learning leaves it unwrapped: "base_model.".
``peft_config(cfg, arch, model) -> dict``
    The method's own keys of peft's adapter_config.json. Required when SAVED_AS is "peft".
``peft_options(config) -> dict | None``
    ``apply()`` options (without targets, train_head) read from a peft adapter_config.json,
    or None when the file is not this method's. Only the method a peft_type reads back
    as has it: LoRA-FA, LoRA+ and QLoRA save as plain "LORA", which reads as LoRA.
``to_peft(model, module, name) -> Tensor`` / ``from_peft(model, module, name, value) -> Tensor``
    Tensor ``name`` of layer ``module`` in peft's layout, and back (checking what ours
    cannot hold). Default: the tensor as it is.
``peft_model_tensors(model) -> dict[str, Tensor]``
    peft's tensors that belong to the whole model, not to one layer, by peft key (VeRA's
    shared pair, the prompt). Default: none.
``from_peft_model_tensor(model, key, value) -> dict[str, Tensor] | None``
    One such peft tensor as ours, {parameter or buffer name: value}; None for any other key.
``zero_delta(layer) -> None``
    For "merged" methods: set the layer's own update to zero once the merged W sits in
    its base. Required when SAVED_AS is "merged".

Each module's docstring names the paper (arXiv id) and gives the formula; the layer code
is shown to learners on the method's page, so it is written to be read.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Callable


@dataclass(frozen=True)
class LabDefaults:
    """A method's default run in the live lab (chosen by measurement, see each module)."""

    lr: float  # AdamW learning rate of the method's own parameters (the head has its own)
    steps: int  # optimizer steps, batch 16
    config: object = None  # the method's Config for the lab; None = Config() (the paper's)


@dataclass(frozen=True)
class LessonDefaults:
    """A method's tiny real run on its page and in the Compare race."""

    model: str = "layer"  # "layer": the toy MLP's first layer; "transformer": the tiny pretrained BERT
    config: object = None  # the Config of the run (None = Config()); the page slider sets the size knob
    note: str = ""  # one sentence added to the run's caption
    race_lr: float | None = None  # Adam rate of the Compare race, measured (scripts/measure_race_lrs.py); None = the shared one


@dataclass(frozen=True)
class Watched:
    """One tensor the method page draws during its real run."""

    name: str  # key of the tensor in every snapshot
    title: str  # shown above the matrix
    role: str  # "frozen", "trainable", "delta" (derived from trainable ones) or "moving" (no gradient)
    rows: str  # what the rows index ("d_out", "r", ...)
    cols: str  # what the columns index ("1" for a vector drawn as a column)
    read: Callable[[], object]  # the tensor now (a torch.Tensor)


@dataclass(frozen=True)
class Method:
    """A method module seen through the protocol, with the optional parts filled in."""

    key: str  # registry key = module name
    module: ModuleType  # peft_edu.methods.<key>

    @property
    def Config(self) -> type:  # noqa: N802  (the method's Config class)
        return self.module.Config

    @property
    def uses_targets(self) -> bool:
        return bool(self.module.USES_TARGETS)

    @property
    def lab(self) -> LabDefaults:
        lab = self.module.LAB
        return lab if lab.config is not None else dataclasses.replace(lab, config=self.Config())

    @property
    def lesson(self) -> LessonDefaults:
        lesson = getattr(self.module, "LESSON", LessonDefaults())
        return lesson if lesson.config is not None else dataclasses.replace(lesson, config=self.Config())

    @property
    def per_model(self) -> bool:
        return bool(getattr(self.module, "PER_MODEL", False))

    def watch(self, model) -> list[Watched]:
        return list(self.module.watch(model))

    @property
    def trains_base(self) -> bool:
        return bool(getattr(self.module, "TRAINS_BASE", False))

    @property
    def nf4_base(self) -> bool:
        return bool(getattr(self.module, "NF4_BASE", False))

    @property
    def count_affine(self) -> bool:
        return bool(getattr(self.module, "COUNT_AFFINE", True))

    def activation_profile(self, shape, cfg, targets: tuple[str, ...]):
        """The method's ``ActivationProfile``; a method without one has no activation model."""
        own = getattr(self.module, "activation_profile", None)
        if own is None:
            raise ValueError(f"{self.key} has no activation-memory model (its module defines no "
                             "activation_profile)")
        return own(shape, cfg, tuple(targets))

    @property
    def peft_names(self) -> dict[str, str]:
        return dict(getattr(self.module, "PEFT_NAMES", {}))

    def config(self, **values):
        """The method's Config from keyword arguments; unknown keys name the valid ones."""
        names = [f.name for f in dataclasses.fields(self.Config)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            valid = ", ".join(names + (["targets"] if self.uses_targets else []) + ["train_head"])
            raise ValueError(f"unknown option(s) {', '.join(unknown)} for {self.key}; valid: {valid}")
        return self.Config(**values)

    def layer_params(self, d_out: int, d_in: int, cfg) -> int:
        return self.module.layer_params(d_out, d_in, cfg)

    def model_params(self, arch, cfg) -> int:
        own = getattr(self.module, "model_params", None)
        if own is not None:
            return own(arch, cfg)
        from peft_edu.methods.layers import sum_over_targets

        return sum_over_targets(self.module.layer_params, arch, cfg)

    def inject(self, model, cfg, arch) -> None:
        self.module.inject(model, cfg, arch)

    def default_targets(self, arch) -> tuple[str, ...]:
        own = getattr(self.module, "default_targets", None)
        return tuple(own(arch)) if own is not None else tuple(arch.default_targets)

    def param_groups(self, model, lr: float, cfg) -> list[dict]:
        own = getattr(self.module, "param_groups", None)
        if own is not None:
            return own(model, lr, cfg)
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]

    @property
    def after_step(self) -> Callable | None:
        """The method's after-step update, or None when it has none."""
        return getattr(self.module, "after_step", None)

    @property
    def extra_loss(self) -> Callable | None:
        """The method's extra loss term ``(model) -> Tensor`` (AdaLoRA's regulariser), or None."""
        return getattr(self.module, "extra_loss", None)

    @property
    def make_optimizer(self) -> Callable | None:
        """The method's own optimizer factory ``(groups, cfg)``, or None for the loop's Adam(W)."""
        return getattr(self.module, "make_optimizer", None)

    @property
    def after_optimizer_step(self) -> Callable | None:
        """``(model, optimizer, step, cfg)`` after each step (ReLoRA's restarts), or None."""
        return getattr(self.module, "after_optimizer_step", None)

    def lr_factor(self, step: int, steps: int, cfg) -> float:
        """The learning-rate factor for the step after ``step`` steps (1 without a schedule)."""
        own = getattr(self.module, "lr_schedule", None)
        return float(own(step, steps, cfg)) if own is not None else 1.0

    @property
    def has_lr_schedule(self) -> bool:
        return hasattr(self.module, "lr_schedule")

    def trained_linear_params(self, shape, cfg, targets: tuple[str, ...]) -> int:
        """Block linear weights the method trains itself (0 unless it says; TRAINS_BASE: see the caller)."""
        own = getattr(self.module, "trained_linear_params", None)
        return int(own(shape, cfg, tuple(targets))) if own is not None else 0

    def optimizer_state_values(self, shape, cfg, targets: tuple[str, ...], trainable: int) -> int:
        """fp32 values the optimizer keeps: Adam's 2 per trainable parameter unless the method says."""
        own = getattr(self.module, "optimizer_state_values", None)
        return int(own(shape, cfg, tuple(targets), trainable)) if own is not None else 2 * trainable

    # ------------------------------------------------------------ export (adapters on disk)
    @property
    def peft_type(self) -> str | None:
        """Hugging Face peft's peft_type (the registry's), or None where peft lacks the method."""
        from peft_edu.registry import get_method

        return get_method(self.key).hf_peft_type

    @property
    def saved_as(self) -> str:
        if self.trains_base:  # every weight may have changed: no adapter, the whole model is the result
            default = "model"
        else:
            default = "peft" if self.peft_type else "peft_edu"
        return getattr(self.module, "SAVED_AS", default)

    @property
    def peft_prefix(self) -> str:
        return getattr(self.module, "PEFT_PREFIX", "base_model.model.")

    def peft_config(self, cfg, arch, model) -> dict:
        own = getattr(self.module, "peft_config", None)
        if own is None:  # without its keys (r, target_modules, ...) peft cannot rebuild the adapter
            raise TypeError(f"{self.key} is saved in peft's format but has no peft_config(cfg, arch, model)")
        return own(cfg, arch, model)

    def peft_options(self, config: dict) -> dict | None:
        own = getattr(self.module, "peft_options", None)
        return own(config) if own is not None else None

    def to_peft(self, model, module: str, name: str):
        own = getattr(self.module, "to_peft", None)
        return own(model, module, name) if own is not None else getattr(model.get_submodule(module), name)

    def from_peft(self, model, module: str, name: str, value):
        own = getattr(self.module, "from_peft", None)
        return own(model, module, name, value) if own is not None else value

    def peft_model_tensors(self, model) -> dict:
        own = getattr(self.module, "peft_model_tensors", None)
        return own(model) if own is not None else {}

    def from_peft_model_tensor(self, model, key: str, value) -> dict | None:
        own = getattr(self.module, "from_peft_model_tensor", None)
        return own(model, key, value) if own is not None else None

    def zero_delta(self, layer) -> None:
        own = getattr(self.module, "zero_delta", None)
        if own is None:  # a merged file cannot be loaded into this method's layers
            raise TypeError(f"{self.key} is saved merged but has no zero_delta(layer)")
        own(layer)


@lru_cache(maxsize=None)
def protocol(key: str) -> Method:
    """``peft_edu.methods.<key>`` through the protocol; an unknown key names the methods."""
    from peft_edu.registry import get_method

    return Method(key, importlib.import_module(get_method(key).module))
