"""Everything the calculator shows for one configuration: counts, file sizes, memory.

Counts come from ``peft_edu.count`` (the real modules, on the meta device). Memory comes
from ``peft_edu.sizing.memory`` (closed forms) fed with those counts.

Speed: every count is an affine function of the method's size knob (r, virtual tokens,
bottleneck): c(k) = c(1) + (k − 1)·(c(2) − c(1)), as ``peft_edu.counting`` already uses for
the depth. ``method_counts`` therefore counts at k = 1 and k = 2 once per (model, method,
targets) and moving a slider costs arithmetic only; the tests check it against direct
counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from peft_edu.sizing.config import ALL_LINEAR, ARCHS, CalcConfig
from peft_edu.sizing.memory import (GPU_SIZES_GB, ActivationSetup, MemoryBreakdown, ModelShape, ParamCounts,
                             adapter_file_bytes, fits, nf4_bits_per_weight, precision, training_memory)
from peft_edu.registry import METHODS

LOW_RANK = ("lora", "lora_fa", "lora_plus", "delta_lora", "dora", "qlora", "vera")
KNOB = {m: "r" for m in LOW_RANK} | {"vera": "vera_r", "prompt_tuning": "n_tokens",
                                     "prefix_tuning": "n_tokens", "adapter": "bottleneck"}
COUNT_KNOB = {"vera_r": "r", "r": "r", "n_tokens": "n_tokens", "bottleneck": "bottleneck"}
COUNT_KEYS = ("trainable", "total", "base_total", "head_trainable", "adapted_layers")
FAMILY = {"bert": "bert", "roberta": "bert", "gpt2": "gpt2", "llama": "llama", "mistral": "llama"}
SUFFIXES = {  # family -> generic target -> module-name suffixes (peft_edu.models' layout)
    "bert": {"q": ("query",), "k": ("key",), "v": ("value",), "o": ("attention.output.dense",),
             "mlp": ("intermediate.dense", "output.dense")},
    "gpt2": {"q": ("attn.c_attn",), "k": ("attn.c_attn",), "v": ("attn.c_attn",),
             "o": ("attn.c_proj",), "mlp": ("mlp.c_fc", "mlp.c_proj")},
    "llama": {"q": ("q_proj",), "k": ("k_proj",), "v": ("v_proj",), "o": ("o_proj",),
              "mlp": ("gate_proj", "up_proj", "down_proj")},
}
NOTES = {
    "lora_plus": "LoRA+ only changes the learning rates (lr of B = ratio × lr of A): counts and memory as LoRA.",
    "delta_lora": "Delta-LoRA also updates W without gradients or optimizer states: counts and memory as LoRA.",
    "qlora": "QLoRA: LoRA on a base whose block linear layers are stored in NF4.",
}


# ---------------------------------------------------------------- the model
def model_fields(config: CalcConfig) -> dict:
    """Hugging Face config fields of the model on screen (a preset's, or built from custom dims)."""
    from peft_edu.models import preset

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


def family_of(fields: dict) -> str:
    return FAMILY[fields["model_type"]]


def task_of(config: CalcConfig, fields: dict) -> str:
    from peft_edu.models import preset

    if not config.is_custom:
        return preset(config.model)["task"]
    return "seq_cls" if family_of(fields) == "bert" else "causal_lm"


@lru_cache(maxsize=256)
def _shape(fields_items: tuple, task: str) -> ModelShape:
    from peft_edu.models import hf_config

    fields = dict(fields_items)
    try:
        c = hf_config(fields)
    except ValueError:
        raise
    except Exception as err:  # transformers' own config validators raise their own error types
        raise ValueError(f"transformers rejects this configuration: {err}") from err
    d_ff = getattr(c, "intermediate_size", None) or getattr(c, "n_inner", None) or 4 * c.hidden_size
    kv = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    return ModelShape(n_layers=c.num_hidden_layers, d_model=c.hidden_size, n_heads=c.num_attention_heads,
                      n_kv_heads=kv, d_ff=d_ff, vocab=c.vocab_size, gated_mlp=family_of(fields) == "llama",
                      lm_head=task == "causal_lm")


def model_shape(config: CalcConfig) -> ModelShape:
    """The dimensions the memory model needs."""
    fields = model_fields(config)
    return _shape(_freeze(fields), task_of(config, fields))


def _freeze(fields: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in fields.items()))


# ---------------------------------------------------------------- counts
def count_targets(family: str, targets: tuple[str, ...]) -> str | tuple[str, ...]:
    """Generic targets (q, k, v, o, mlp / all) as the module-name suffixes ``apply`` takes."""
    if targets == (ALL_LINEAR,):
        return "all-linear"
    names = [s for t in targets for s in SUFFIXES[family][t]]
    return tuple(dict.fromkeys(names))


def method_counts(config: CalcConfig, method: str) -> dict:
    """``peft_edu.count`` for ``method`` on the configured model, with its knobs.

    Returns trainable, total, base_total, head_trainable, adapted_layers,
    trainable_without_head and percent.
    """
    fields = model_fields(config)
    knob = KNOB.get(method)
    value = getattr(config, knob) if knob else None
    targets = config.targets if method in LOW_RANK else None
    c = _counts_affine(_freeze(fields), task_of(config, fields), method, targets, knob, value)
    c = dict(zip(COUNT_KEYS, c))
    c["trainable_without_head"] = c["trainable"] - c["head_trainable"]
    c["percent"] = 100.0 * c["trainable"] / c["total"]
    return c


@lru_cache(maxsize=4096)
def _counts_affine(fields_items, task, method, targets, knob, value) -> tuple:
    """Counts at knob = ``value`` from the counts at 1 and 2 (exact: every count is affine)."""
    if knob is None or value in (1, 2):
        return _counts(fields_items, task, method, targets, knob, value)
    c1 = _counts(fields_items, task, method, targets, knob, 1)
    c2 = _counts(fields_items, task, method, targets, knob, 2)
    return tuple(a + (value - 1) * (b - a) for a, b in zip(c1, c2))


@lru_cache(maxsize=4096)
def _counts(fields_items, task, method, targets, knob, value) -> tuple:
    """Direct counts; BERT's FFN output needs a detour (below)."""
    fields = dict(fields_items)
    family = family_of(fields)
    kwargs = {COUNT_KNOB[knob]: value} if knob else {}
    if targets is None:
        return _peft_count(fields, task, method, None, kwargs)
    if family == "bert" and "mlp" in targets and "o" not in targets:
        return _bert_mlp_without_o(fields, task, method, targets, kwargs)
    return _peft_count(fields, task, method, count_targets(family, targets), kwargs)


def _peft_count(fields: dict, task: str, method: str, targets, kwargs: dict) -> tuple:
    from peft_edu.counting import count

    c = count(fields, method, task=task, targets=targets, **kwargs)
    return tuple(c[k] for k in COUNT_KEYS)


def _bert_mlp_without_o(fields, task, method, targets, kwargs) -> tuple:
    """In BERT the FFN output is ``layer.i.output.dense``, and the suffix ``output.dense``
    also matches the attention output ``layer.i.attention.output.dense``. So count with o,
    then take away what o adds (counts are additive over adapted layers; o's share is
    measured as count(q, o) − count(q))."""
    def c(ts):
        return _peft_count(fields, task, method, count_targets("bert", ts), kwargs)

    with_o, q_o, q = c((*targets, "o")), c(("q", "o")), c(("q",))
    return tuple(w - (a - b) for w, a, b in zip(with_o, q_o, q))


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
    """QLoRA trains on an NF4 base; every other method on the chosen precision."""
    if method == "qlora":
        return precision(4, config.double_quant)
    return precision(config.bits)


def _activation_knobs(config: CalcConfig, method: str) -> dict:
    targets = ("q", "k", "v", "o", "mlp") if config.targets == (ALL_LINEAR,) else config.targets
    r = config.vera_r if method == "vera" else config.r
    return dict(r=r, targets=targets, n_tokens=config.n_tokens, bottleneck=config.bottleneck)


def estimate_method(config: CalcConfig, method: str) -> MethodEstimate:
    """Counts, memory (both checkpointing settings), adapter size and GPU fit for one method."""
    shape = model_shape(config)
    counts = method_counts(config, method)
    prec = method_precision(config, method)
    linear_frozen = 0 if method == "full" else shape.n_layers * shape.linear_params_per_layer()
    params = ParamCounts(counts["total"], counts["trainable"], linear_frozen)
    knobs = _activation_knobs(config, method)
    dropout = family_of(model_fields(config)) != "llama"
    mems = {}
    for ckpt in (config.checkpointing, not config.checkpointing):
        setup = ActivationSetup(config.batch, config.seq, checkpointing=ckpt, dropout=dropout)
        mems[ckpt] = training_memory(shape, params, method, prec, setup, **knobs)
    mem = mems[config.checkpointing]
    saved = counts["total"] if method == "full" else counts["trainable"]
    return MethodEstimate(
        method=method, name=METHODS[method].name, counts=counts, precision=prec.label, memory=mem,
        memory_other=mems[not config.checkpointing],
        adapter_bytes=adapter_file_bytes(saved, 4 if config.bits == 32 else 2),
        fits={gb: fits(mem.total, gb) for gb in GPU_SIZES_GB}, note=NOTES.get(method, ""),
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
    total = method_counts(config, "full")["total"]
    linear = shape.n_layers * shape.linear_params_per_layer()
    other = total - linear
    return {
        "32-bit (fp32)": 4.0 * total,
        "16-bit (bf16)": 2.0 * total,
        "NF4 (4.5 bits/weight)": linear * nf4_bits_per_weight(False) / 8 + 2.0 * other,
        "NF4 + double quantization (≈4.127 bits/weight)": linear * nf4_bits_per_weight(True) / 8 + 2.0 * other,
    }
