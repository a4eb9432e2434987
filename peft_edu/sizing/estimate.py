"""Everything the calculator shows for one configuration: counts, file sizes, memory.

Counts come from ``peft_edu.count`` (the real modules, on the meta device). Memory comes
from ``peft_edu.sizing.memory`` (closed forms) fed with those counts. What differs between
methods is asked of each method (``peft_edu.methods.protocol``: does it take targets, does
it train the base, is its base stored in NF4, what does autograd keep) and of its registry
entry (its size knob, its note); the model's dimensions come from ``peft_edu.models.Arch``.

Speed: every count is an affine function of the method's size knob (r, virtual tokens,
bottleneck): c(k) = c(1) + (k − 1)·(c(2) − c(1)), as ``peft_edu.counting`` already uses for
the depth. ``method_counts`` therefore counts at k = 1 and k = 2 once per (model, method,
targets) and moving a slider costs arithmetic only; the tests check it against direct
counts. A method whose count is not affine in its knob (``COUNT_AFFINE = False``: LoKr) is
counted at each value instead.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from peft_edu.counting import count
from peft_edu.inject import layer_params
from peft_edu.methods import protocol
from peft_edu.models import Arch, arch_from_config, hf_config, preset
from peft_edu.registry import METHODS
from peft_edu.sizing.config import ALL_LINEAR, ARCHS, TARGETS, CalcConfig, knob_field
from peft_edu.sizing.memory import (GPU_SIZES_GB, ActivationSetup, MemoryBreakdown, ModelShape, ParamCounts,
                                    adapter_file_bytes, fits, hf_shape, nf4_bits_per_weight, precision,
                                    training_memory)
from peft_edu.sizing.paper_counts import PaperCount, paper_count

COUNT_KEYS = ("trainable", "total", "base_total", "head_trainable", "adapted_layers")


# ---------------------------------------------------------------- the model
def model_fields(config: CalcConfig) -> dict:
    """Hugging Face config fields of the model on screen (a preset's, or built from custom dims)."""
    if not config.is_custom:
        return dict(preset(config.model)["config"])
    model_type = ARCHS[config.arch][1]
    if model_type == "gpt2":
        return {"model_type": "gpt2", "n_layer": config.layers, "n_embd": config.hidden,
                "n_head": config.heads, "n_inner": config.ffn, "vocab_size": config.vocab,
                "n_positions": 1024, "bos_token_id": 0, "eos_token_id": 0}  # within any vocabulary
    fields = {"model_type": model_type, "num_hidden_layers": config.layers, "hidden_size": config.hidden,
              "num_attention_heads": config.heads, "intermediate_size": config.ffn,
              "vocab_size": config.vocab}
    if model_type == "llama":
        fields["num_key_value_heads"] = config.kv_heads
    else:
        fields["num_labels"] = 2
    return fields


def task_of(config: CalcConfig) -> str:
    """The preset's task; a custom model's is its architecture's (ARCHS)."""
    return ARCHS[config.arch][2] if config.is_custom else preset(config.model)["task"]


@lru_cache(maxsize=256)
def _hf(fields_items: tuple):
    """The transformers config; its own validators' errors become ValueError."""
    try:
        return hf_config(dict(fields_items))
    except ValueError:
        raise
    except Exception as err:  # transformers' own config validators raise their own error types
        raise ValueError(f"transformers rejects this configuration: {err}") from err


@lru_cache(maxsize=256)
def _arch(fields_items: tuple, task: str) -> Arch:
    return arch_from_config(_hf(fields_items), task)


@lru_cache(maxsize=256)
def _shape(fields_items: tuple, task: str) -> ModelShape:
    return hf_shape(_hf(fields_items), task)


def model_arch(config: CalcConfig) -> Arch:
    """Where the model on screen keeps its layers, and its dimensions (``peft_edu.models``)."""
    return _arch(_freeze(model_fields(config)), task_of(config))


def model_shape(config: CalcConfig) -> ModelShape:
    """The dimensions the memory model needs."""
    return _shape(_freeze(model_fields(config)), task_of(config))


def _freeze(fields: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in fields.items()))


# ---------------------------------------------------------------- the methods' knobs
def size_knob(config: CalcConfig, method: str) -> dict:
    """{the method's size knob: its value on screen}, e.g. {"r": 8}; {} for a method without
    one. The knob is the registry's ``size_knob``, a field of the method's Config."""
    knob = METHODS[method].size_knob
    field = knob_field(method, knob) if knob else None
    return {knob: getattr(config, field)} if field else {}


def knob_fields(methods) -> set[str]:
    """The CalcConfig inputs that set a Config field of one of ``methods`` (the page shows those)."""
    fields = {knob_field(m, f.name) for m in methods for f in dataclasses.fields(protocol(m).Config)}
    return fields - {None}


def takes_targets(methods) -> bool:
    """Does one of ``methods`` wrap the linear layers the targets choose?"""
    return any(protocol(m).uses_targets for m in methods)


def wide_rank(config: CalcConfig) -> bool:
    """The shared rank r is used by a method on screen and is not below the hidden size."""
    return "r" in knob_fields(config.methods) and config.r >= model_shape(config).d_model


# ---------------------------------------------------------------- counts
def target_names(arch: Arch, targets: tuple[str, ...]) -> str | tuple[str, ...]:
    """Generic targets (q, k, v, o, mlp / all) as the layers' paths inside a block, which
    ``apply`` matches exactly (BERT's "output.dense" is the FFN output, not the attention's)."""
    if targets == (ALL_LINEAR,):
        return "all-linear"
    layers = {"q": (arch.q,), "k": (arch.k,), "v": (arch.v,), "o": (arch.o,),
              "mlp": (*arch.ffn_in, arch.ffn_out)}
    return tuple(dict.fromkeys(name for t in targets for name in layers[t]))  # GPT-2: one fused q/k/v


def method_counts(config: CalcConfig, method: str) -> dict:
    """``peft_edu.count`` for ``method`` on the configured model, with its size knob.

    Returns trainable, total, base_total, head_trainable, adapted_layers,
    trainable_without_head and percent.
    """
    targets = config.targets if protocol(method).uses_targets else None
    knob = tuple(size_knob(config, method).items())
    c = _counts_affine(_freeze(model_fields(config)), task_of(config), method, targets, knob)
    c = dict(zip(COUNT_KEYS, c))
    c["trainable_without_head"] = c["trainable"] - c["head_trainable"]
    c["percent"] = 100.0 * c["trainable"] / c["total"]
    return c


@lru_cache(maxsize=4096)
def _counts_affine(fields_items, task, method, targets, knob) -> tuple:
    """Counts at knob = value from the counts at 1 and 2 (exact where the count is affine:
    the method's ``COUNT_AFFINE``; the others are counted directly)."""
    if not knob or knob[0][1] in (1, 2) or not protocol(method).count_affine:
        return _counts(fields_items, task, method, targets, knob)
    ((name, value),) = knob
    c1 = _counts(fields_items, task, method, targets, ((name, 1),))
    c2 = _counts(fields_items, task, method, targets, ((name, 2),))
    return tuple(a + (value - 1) * (b - a) for a, b in zip(c1, c2))


@lru_cache(maxsize=4096)
def _counts(fields_items, task, method, targets, knob) -> tuple:
    """Direct counts, targets named as the model's layers."""
    names = None if targets is None else target_names(_arch(fields_items, task), targets)
    c = count(dict(fields_items), method, task=task, targets=names, **dict(knob))
    return tuple(c[k] for k in COUNT_KEYS)


@dataclass(frozen=True)
class FusedCount:
    """A method's count on a fused q/k/v layer beside the count if q, k and v were separate."""

    method: str  # registry key
    fused: int  # trainable parameters as adapted (without the head): the whole fused layer
    separate: int  # the same choice on separate d × d_q, d × d_kv layers
    chosen: tuple[str, ...]  # the q/k/v targets the learner picked


def fused_qkv_counts(config: CalcConfig) -> list[FusedCount]:
    """GPT-2 and GPT-3 compute q, k and v with one fused layer (c_attn, d_in = d, d_out = 3d):
    picking Wq, or Wq and Wv, adapts that whole layer. For each method on screen that wraps
    layers: its count as adapted, and the count had the chosen projections been separate
    layers (each d_in = d, d_out = d for q, d_kv for k and v), the rest of the targets as they
    are. Empty when the model has separate projections or no q/k/v is chosen."""
    fields, task = _freeze(model_fields(config)), task_of(config)
    arch = _arch(fields, task)
    chosen = tuple(t for t in ("q", "k", "v") if t in config.targets)
    if arch.q != arch.k or not chosen:
        return []
    d_out_fused, d_in = arch.shape_of(arch.q)
    d_kv = model_shape(config).kv_dim
    out = []
    for method in config.methods:
        spec = protocol(method)
        if not spec.uses_targets:
            continue
        knob = size_knob(config, method)
        try:
            cfg = spec.config(**knob)
            fused_one = spec.layer_params(d_out_fused, d_in, cfg)
            separate_one = sum(spec.layer_params(d_in if t == "q" else d_kv,
                                                 d_in, cfg) for t in chosen)
        except ValueError:  # a method counted per model, not per layer
            continue
        fused = method_counts(config, method)["trainable_without_head"]
        out.append(FusedCount(method, fused, fused + arch.n_layers * (separate_one - fused_one), chosen))
    return out


def paper_of(config: CalcConfig, method: str) -> PaperCount | None:
    """What a paper reports for exactly this configuration of a preset, if one does."""
    if config.is_custom:
        return None
    knob = next(iter(size_knob(config, method).values()), None)
    return paper_count(config.model, method, knob, config.targets)


def layer_counts(config: CalcConfig) -> dict[str, int]:
    """Trainable parameters of one layer_out × layer_in linear layer, at the one-layer rank,
    for each method on screen that acts on single layers (it wraps them, or trains them)."""
    counts = {}
    for method in config.methods:
        spec = protocol(method)
        if spec.uses_targets or spec.trains_base:
            knob = METHODS[method].size_knob
            sizes = {knob: config.layer_r} if knob else {}
            counts[method] = layer_params(method, config.layer_out, config.layer_in, **sizes)
    return counts


# ---------------------------------------------------------------- memory
@dataclass(frozen=True)
class MethodEstimate:
    """One row of the calculator's table."""

    method: str  # registry key
    name: str  # display name
    counts: dict  # method_counts(...)
    precision: str  # label of the weight precision used
    memory: MemoryBreakdown  # with the configured checkpointing setting
    memory_other: MemoryBreakdown  # with checkpointing toggled, for comparison
    adapter_bytes: float  # size of the saved trained weights
    fits: dict  # GPU GB -> bool (memory.total fits)
    note: str  # caveat shown under the table ("" if none)


def method_precision(config: CalcConfig, method: str):
    """A method whose base is stored in NF4 (QLoRA) trains on it; every other on the chosen precision."""
    if protocol(method).nf4_base:
        return precision(4, config.double_quant)
    return precision(config.bits)


def _memory(config: CalcConfig, method: str, params: ParamCounts, checkpointing: bool) -> MemoryBreakdown:
    """training_memory for the configured batch, with or without checkpointing."""
    arch = model_arch(config)
    setup = ActivationSetup(config.batch, config.seq, checkpointing=checkpointing,
                            dropout=arch.family != "llama")  # Llama-family models have no dropout layers
    targets = TARGETS if config.targets == (ALL_LINEAR,) else config.targets
    return training_memory(model_shape(config), params, method, method_precision(config, method), setup,
                           targets=targets, **size_knob(config, method))


def estimate_method(config: CalcConfig, method: str) -> MethodEstimate:
    """Counts, memory (both checkpointing settings), adapter size and GPU fit for one method."""
    spec, shape = protocol(method), model_shape(config)
    counts = method_counts(config, method)
    linear_frozen = 0 if spec.trains_base else shape.n_layers * shape.linear_params_per_layer()
    if linear_frozen:  # a method that trains some block weights itself (GaLore's targets)
        targets = TARGETS if config.targets == (ALL_LINEAR,) else config.targets
        linear_frozen -= spec.trained_linear_params(shape, spec.config(**size_knob(config, method)), targets)
    params = ParamCounts(counts["total"], counts["trainable"], linear_frozen)
    mem = _memory(config, method, params, config.checkpointing)
    saved = counts["total"] if spec.trains_base else counts["trainable"]  # the whole model, or the adapter
    return MethodEstimate(
        method=method, name=METHODS[method].name, counts=counts,
        precision=method_precision(config, method).label, memory=mem,
        memory_other=_memory(config, method, params, not config.checkpointing),
        adapter_bytes=adapter_file_bytes(saved, 4 if config.bits == 32 else 2),
        fits={gb: fits(mem.total, gb) for gb in GPU_SIZES_GB}, note=METHODS[method].calculator_note,
    )


def estimate(config: CalcConfig) -> tuple[list[MethodEstimate], dict[str, str]]:
    """One ``MethodEstimate`` per configured method (registry order), and for each method
    that cannot be applied to this model its reason (e.g. adapters on Llama)."""
    model_shape(config)  # a model transformers cannot build raises ValueError here, once
    rows, problems = [], {}
    for method in config.methods:
        try:
            rows.append(estimate_method(config, method))
        except ValueError as err:
            problems[method] = str(err)
    return rows, problems


def base_weight_bytes(config: CalcConfig) -> dict[str, float]:
    """The frozen base model's weights at each storage precision (the NF4 rows quantize the
    blocks' linear layers; embeddings, norms and head stay 16-bit, as bitsandbytes does)."""
    shape = model_shape(config)
    total = method_counts(config, "full")["base_total"]  # the model before any method is applied
    linear = shape.n_layers * shape.linear_params_per_layer()
    other = total - linear
    return {
        "32-bit (fp32)": 4.0 * total,
        "16-bit (bf16)": 2.0 * total,
        "NF4 (4.5 bits/weight)": linear * nf4_bits_per_weight(False) / 8 + 2.0 * other,
        "NF4 + double quantization (≈4.127 bits/weight)": linear * nf4_bits_per_weight(True) / 8 + 2.0 * other,
    }
