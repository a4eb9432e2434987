"""One lab run's settings (``RunConfig``) and each method's default run.

A ``RunConfig`` holds what every run has (learning rates, steps, batch, seed, ...) and,
nested, the method's own frozen ``Config`` (``peft_edu.methods.<key>.Config``): the lab
never re-declares a method's knobs. ``defaults("vera")`` is the method module's ``LAB``
default; ``apply_options(cfg)`` is the keyword arguments of ``peft_edu.apply``.
``"head_only"`` is the baseline that trains only the classifier head on the frozen encoder.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from peft_edu.methods import protocol
from peft_edu.registry import METHODS

HEAD_ONLY = "head_only"  # the baseline: the classifier head trains, the encoder stays frozen
METHOD_CHOICES = (HEAD_ONLY, *METHODS)  # what the lab offers, baseline first
CHECKPOINT_DROPOUT = 0.1  # all-MiniLM-L6-v2's hidden and attention dropout (its config.json)
HEAD_ONLY_LR = 5e-3  # a linear probe on frozen features takes large steps
SEED_FIELDS = ("seed", "projection_seed")  # Config fields that follow the run's seed


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (hashable, so it can key a cache)."""

    method: str = "lora"  # registry key, or "head_only"
    config: object = None  # the method's own frozen Config (None for head_only)
    lr: float = 2e-3  # AdamW learning rate of the method's parameters (LoRA+: of A; B gets ratio × lr)
    head_lr: float = 2e-3  # learning rate of the classifier head (the same for every method)
    steps: int = 100  # optimizer steps (each method's LAB sets its own; LoRA: 90 % by step ~25-30)
    batch_size: int = 16  # sentences per step
    seed: int = 0  # batch order, dropout and the method's random init
    max_length: int = 48  # tokens per sentence (longer ones are cut)
    eval_every: int = 5  # steps between test-accuracy evaluations (and always the last step)
    eval_examples: int = 64  # texts of the test split scored by those evaluations, a fixed subset (0 = all);
    # the last step scores the whole split. 64 MiniLM forwards cost ~1.5 steps (benchmarks/bench_lab.py)
    targets: str | None = None  # targets of methods that wrap linear layers ("query,value", "all-linear"); None = default
    model_dropout: float = 0.0  # dropout of the pretrained model's own layers while training (its checkpoint
    # says CHECKPOINT_DROPOUT); off by default, chosen by measurement: benchmarks/bench_lab.py --dropout

    def knobs(self) -> dict[str, object]:
        """The method's settings worth naming in a run's label: its size knob, and every other
        knob that differs from the paper's default (seeds aside), by Config field name."""
        if self.config is None:
            return {}
        size, paper = METHODS[self.method].size_knob, type(self.config)()
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)
                if f.name not in SEED_FIELDS
                and (f.name == size or getattr(self.config, f.name) != getattr(paper, f.name))}

    def check(self) -> None:
        """Raise ValueError naming the first invalid setting and its valid range."""
        if self.method not in METHOD_CHOICES:
            raise ValueError(f"unknown method {self.method!r}; choose one of: {', '.join(METHOD_CHOICES)}")
        if self.method != HEAD_ONLY and not isinstance(self.config, protocol(self.method).Config):
            raise ValueError(f"config must be a {self.method} Config, got {type(self.config).__name__}")
        _positive(lr=self.lr, head_lr=self.head_lr, steps=self.steps, batch_size=self.batch_size,
                  max_length=self.max_length, eval_every=self.eval_every)
        if self.lr > 10.0 or self.head_lr > 10.0:
            raise ValueError(f"learning rates must be at most 10, got lr={self.lr}, head_lr={self.head_lr}")
        if self.eval_examples < 0:
            raise ValueError("eval_examples must be >= 0")
        if not 0.0 <= self.model_dropout < 1.0:
            raise ValueError(f"model_dropout must be in [0, 1), got {self.model_dropout!r}")


def _positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


def defaults(method: str, **overrides) -> RunConfig:
    """The lab's default ``RunConfig`` for ``method``, with ``overrides`` applied.

    An override may name a RunConfig field (``steps=3``) or a field of the method's Config
    (``r=4``, ``ratio=2.0``): the latter lands in the nested ``config``."""
    if method not in METHOD_CHOICES:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHOD_CHOICES)}")
    if method == HEAD_ONLY:
        return dataclasses.replace(RunConfig(method=method, lr=HEAD_ONLY_LR), **overrides)
    lab = protocol(method).lab
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    knobs = {k: v for k, v in overrides.items() if k not in run_fields}
    config = dataclasses.replace(lab.config, **knobs) if knobs else lab.config
    run = {"lr": lab.lr, "steps": lab.steps, **{k: v for k, v in overrides.items() if k in run_fields}}
    return RunConfig(method=method, config=config, **run)


def apply_options(cfg: RunConfig) -> dict:
    """Keyword arguments for ``peft_edu.apply(model, cfg.method, **...)``; the method's own
    random init (``seed``, ``projection_seed``) follows the run's seed."""
    options = {f.name: getattr(cfg.config, f.name) for f in dataclasses.fields(cfg.config)}
    options.update({name: cfg.seed for name in SEED_FIELDS if name in options})
    if cfg.targets and protocol(cfg.method).uses_targets:
        options["targets"] = cfg.targets
    return options


def label(method: str) -> str:
    """Display name: the registry's, or "Head only (baseline)"."""
    return "Head only (baseline)" if method == HEAD_ONLY else METHODS[method].name
