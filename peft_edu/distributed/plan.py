"""The multi-GPU calculator: memory per GPU, communication and pipeline bubble per method.

A ``DistConfig`` is the single-GPU calculator's ``CalcConfig`` (model, methods and their
knobs, micro-batch, sequence, checkpointing) plus the parallel layout: N GPUs, ZeRO stage,
tensor-parallel degree t, pipeline stages p, micro-batches m, and a precision convention.
Counts come from ``peft_edu.sizing.estimate`` (the real modules on the meta device, so GQA
and the FFN width are the model's own); the model states per GPU from
``peft_edu.distributed.formulas``. The URL holds the calculator's keys plus N, zero, tp, pp,
mb and prec; ``parse_query(to_query(c))`` gives ``c`` back.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

from peft_edu.distributed.formulas import (CONVENTIONS, MIXED, STAGES, ModelStates, bubble_fraction,
                                           model_state_bytes, pipeline_bytes, step_comm_bytes,
                                           tensor_parallel_bytes)
from peft_edu.registry import METHODS
from peft_edu.sizing import config as calc
from peft_edu.sizing.estimate import estimate_method, method_precision, model_shape
from peft_edu.sizing.memory import GB

GPU_SIZES_GB = (24, 40, 80, 141)  # RTX 4090 / A100-40GB / A100-H100-80GB / H200
NUMBERS = {"N": ("n_gpus", 1, 4096), "zero": ("stage", 0, 3), "tp": ("tp", 1, 64), "pp": ("pp", 1, 128),
           "mb": ("micro_batches", 1, 1024)}


@dataclass(frozen=True)
class DistConfig:
    """Everything the multi-GPU calculator shows is a function of this."""

    calc: calc.CalcConfig = dataclasses.replace(calc.DEFAULT, methods=("full", "lora"), batch=1, seq=2048)
    n_gpus: int = 8  # N: every GPU, = data-parallel degree × t × p
    stage: int = 0  # ZeRO stage of the data-parallel ranks (3 = FSDP full sharding)
    tp: int = 1  # tensor-parallel degree t (splits every block's matrices)
    pp: int = 1  # pipeline stages p (splits the layers)
    micro_batches: int = 8  # m micro-batches per step (calc.batch sequences each) through the pipeline
    convention: str = MIXED.key  # a key of formulas.CONVENTIONS

    @property
    def dp(self) -> int:
        """Data-parallel degree: the ranks that hold the same slice of the model."""
        return self.n_gpus // (self.tp * self.pp)


DEFAULT = DistConfig()


@dataclass(frozen=True)
class DistRow:
    """One method on the configured layout, per GPU."""

    method: str
    name: str
    total: int  # Ψ: every parameter (the method's own included)
    trainable: int  # Φ
    states: ModelStates  # weights, gradients, optimizer states on one GPU
    activations: float  # what autograd keeps on one GPU (the first pipeline stage: the most)
    dp_bytes: float  # data-parallel bytes each rank sends per step
    tp_bytes: float  # tensor-parallel bytes each rank sends per step
    pp_bytes: float  # pipeline bytes a stage sends per step
    bubble: float  # pipeline idle time / compute time
    fits: dict  # GPU GB -> bool

    @property
    def total_bytes(self) -> float:
        return self.states.total + self.activations

    def parts(self) -> dict[str, float]:
        return {**self.states.parts(), "Activations": self.activations}


def _single(config: DistConfig) -> calc.CalcConfig:
    return dataclasses.replace(config.calc, bits=16)  # both conventions compute in bf16


def estimate_row(config: DistConfig, method: str) -> DistRow:
    """Memory per GPU, traffic and bubble of ``method`` on the configured layout.

    Model states: the stage formula on this rank's 1/(t·p) of the model over dp = N/(t·p)
    ranks. Activations: the single-GPU estimate for one micro-batch, divided by t (Megatron
    with sequence parallelism splits all of them, Korthikanti et al., arXiv 2205.05198) and,
    under 1F1B, the first stage keeps min(p, m) micro-batches of its L/p layers."""
    c, conv, split = _single(config), CONVENTIONS[config.convention], config.tp * config.pp
    est = estimate_method(c, method)
    phi, psi = est.counts["trainable"], est.counts["total"]
    frozen = est.memory.weights - method_precision(c, method).trainable_bytes * phi  # NF4 for QLoRA
    states = model_state_bytes(frozen / split, phi / split, config.dp, config.stage, conv)
    in_flight = min(config.pp, config.micro_batches) / config.pp
    activations = est.memory.activations / config.tp * in_flight
    shape, tokens = model_shape(c), c.batch * c.seq
    total = states.total + activations
    return DistRow(
        method=method, name=METHODS[method].name, total=psi, trainable=phi, states=states,
        activations=activations,
        dp_bytes=step_comm_bytes(psi / split, phi / split, config.dp, config.stage, conv),
        tp_bytes=tensor_parallel_bytes(shape.n_layers // config.pp, tokens * config.micro_batches,
                                       shape.d_model, config.tp),
        pp_bytes=pipeline_bytes(config.micro_batches, tokens, shape.d_model, config.pp),
        bubble=bubble_fraction(config.pp, config.micro_batches) if config.pp > 1 else 0.0,
        fits={gb: total <= gb * GB for gb in GPU_SIZES_GB},
    )


def estimate(config: DistConfig) -> tuple[list[DistRow], dict[str, str]]:
    """One row per configured method; methods that cannot be applied, with the reason."""
    rows, problems = [], {}
    for method in config.calc.methods:
        try:
            rows.append(estimate_row(config, method))
        except ValueError as err:
            problems[method] = str(err)
    return rows, problems


# ---------------------------------------------------------------- URL
def parse_query(params: Mapping[str, object], presets: list[str]) -> tuple[DistConfig, list[str]]:
    """The configuration a URL describes and a message for every value replaced (never raises)."""
    c, messages = calc.parse_query(params, presets)
    raw = {k: _last(v) for k, v in params.items()}
    values: dict[str, object] = {}
    for key, (field, low, high) in NUMBERS.items():
        if key in raw:
            values[field] = _int(key, raw[key], low, high, getattr(DEFAULT, field), messages)
    if "prec" in raw:
        if raw["prec"] in CONVENTIONS:
            values["convention"] = raw["prec"]
        else:
            messages.append(f"`prec={raw['prec']}` should be one of {', '.join(CONVENTIONS)}; using {DEFAULT.convention}.")
    # keys the URL lacks take this page's defaults, not the single-GPU calculator's
    own = {f: getattr(DEFAULT.calc, f) for key, f in (("batch", "batch"), ("seq", "seq"), ("methods", "methods"))
           if key not in raw}
    values["calc"] = dataclasses.replace(c, **own)
    config, problems = validate(dataclasses.replace(DEFAULT, **values))
    return config, messages + problems


def _last(value) -> str:
    """A URL value as text (st.query_params gives the last of a repeated key; dicts may hold lists)."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else ""
    return str(value)


def _int(key: str, raw: str, low: int, high: int, default: int, messages: list[str]) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        messages.append(f"`{key}={raw}` is not a whole number; using {default}.")
        return default
    if not low <= value <= high:
        messages.append(f"`{key}={raw}` is out of range ({low} to {high}); using {default}.")
        return default
    return value


def validate(config: DistConfig) -> tuple[DistConfig, list[str]]:
    """t must divide the attention heads, p the layers, and t·p the GPU count; fixes with messages."""
    messages: list[str] = []
    shape = model_shape(_single(config))
    c = config
    if shape.n_heads % c.tp:  # Megatron gives each rank whole attention heads
        messages.append(f"t = {c.tp} does not divide the {shape.n_heads} attention heads; using t = 1.")
        c = dataclasses.replace(c, tp=1)
    if c.pp > shape.n_layers:
        messages.append(f"p = {c.pp} stages is more than the {shape.n_layers} layers; using p = 1.")
        c = dataclasses.replace(c, pp=1)
    if c.n_gpus % (c.tp * c.pp):
        messages.append(f"N = {c.n_gpus} GPUs cannot be split into t × p = {c.tp * c.pp}; using t = p = 1.")
        c = dataclasses.replace(c, tp=1, pp=1)
    if c.stage not in STAGES:
        c = dataclasses.replace(c, stage=0)
    return c, messages


def to_query(config: DistConfig) -> dict[str, str]:
    """Every key of the configuration (the calculator's keys plus the parallel layout)."""
    q = calc.to_query(config.calc)
    for key, (field, _, _) in NUMBERS.items():
        q[key] = str(getattr(config, field))
    q["prec"] = config.convention
    return q
