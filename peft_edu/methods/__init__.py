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
    of shape (d_out, d_in). Per-model methods (prompt and prefix tuning) give what one
    layer would get if it were the whole model, and say so in their docstring.
``inject(model, cfg, arch) -> None``
    Modifies the (already frozen) model in place: wraps the layers named in
    ``arch.targets`` (the frozen layer is kept as ``.base``) or attaches the method's
    modules. ``arch`` is ``peft_edu.models.Arch``.
``USES_TARGETS: bool``
    True when ``apply(targets=...)`` chooses the linear layers the method wraps.
``LAB: LabDefaults``
    The live lab's default run for this method (learning rate, steps, Config), measured
    on all-MiniLM-L6-v2 and the shipped data.

Optional (``protocol`` supplies the default):

``model_params(arch, cfg) -> int``
    Trainable parameters for a whole model described by ``arch`` (``arch.targets`` holds
    the adapted layers). Default: ``layer_params`` summed over ``arch.target_shapes()``.
``param_groups(model, lr, cfg) -> list[dict]``
    Optimizer parameter groups. Default: every trainable parameter at ``lr``.
``after_step(model) -> None``
    Called right after every ``optimizer.step()``. Default: nothing to do.
``default_targets(arch) -> tuple[str, ...]``
    Targets when ``apply`` gets none. Default: ``arch.default_targets`` (as peft).
``PEFT_NAMES: dict[str, str]``
    peft tensor suffix for each of the layer's tensors (``{"A": "lora_A.weight"}``), for
    the methods Hugging Face peft has; see ``peft_edu.export``.

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


@lru_cache(maxsize=None)
def protocol(key: str) -> Method:
    """``peft_edu.methods.<key>`` through the protocol; an unknown key names the methods."""
    from peft_edu.registry import get_method

    return Method(key, importlib.import_module(get_method(key).module))
