"""The calculator's configuration: one frozen dataclass, its URL form, and validation.

The page keeps the whole configuration in the URL (``st.query_params``) so a teacher can
share it. ``parse_query`` turns a URL's parameters into a ``CalcConfig``; every value that
is missing, malformed or out of range falls back to its default with a message saying
so, never an exception. ``to_query`` writes the inverse, so ``parse_query(to_query(c))``
gives ``c`` back.

Pure Python (no Streamlit, no torch): the numbers themselves come from
``peft_edu.sizing.estimate``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

from peft_edu.registry import METHODS
from peft_edu.sizing.profile import TARGETS

CUSTOM = "custom"  # model name meaning "the dimensions below"
ARCHS = {  # custom architecture (a peft_edu.models family) -> (label, Hugging Face model_type, task)
    "llama": ("Decoder, Llama-style (RMSNorm, SwiGLU MLP, grouped-query attention)", "llama", "causal_lm"),
    "gpt2": ("Decoder, GPT-2-style (LayerNorm, GELU MLP, fused q/k/v)", "gpt2", "causal_lm"),
    "bert": ("Encoder, BERT-style (classifier head)", "bert", "seq_cls"),
}
ALL_LINEAR = "all"  # URL value of targets meaning every linear layer (peft's "all-linear")
BITS = (32, 16, 4)  # weight precision: fp32, bf16 mixed precision, NF4 for QLoRA's base

# URL key -> (field, lowest, highest): integers and floats checked against these bounds.
# The highest values are "absurd" limits: far beyond any released model, still cheap to count.
NUMBERS = {
    "L": ("layers", 1, 256),
    "d": ("hidden", 8, 65_536),
    "heads": ("heads", 1, 1024),
    "kv": ("kv_heads", 1, 1024),
    "ffn": ("ffn", 1, 262_144),
    "vocab": ("vocab", 2, 1_000_000),
    "r": ("r", 1, 1024),
    "alpha": ("alpha", 0.001, 100_000.0),
    "vera_r": ("vera_r", 1, 8192),
    "tokens": ("n_tokens", 1, 4096),
    "bottleneck": ("bottleneck", 1, 65_536),
    "ratio": ("ratio", 0.001, 10_000.0),
    "batch": ("batch", 1, 4096),
    "seq": ("seq", 1, 1_048_576),
    "lo": ("layer_out", 1, 100_000),
    "li": ("layer_in", 1, 100_000),
    "lr": ("layer_r", 1, 1024),
}
FLAGS = {"dq": "double_quant", "ckpt": "checkpointing"}
# CalcConfig fields that set a field of a method's Config (the rest describe the model and the run)
KNOBS = ("r", "alpha", "vera_r", "n_tokens", "bottleneck", "ratio")


@dataclass(frozen=True)
class CalcConfig:
    """Everything the calculator shows is a function of this."""

    model: str = "Llama-2-7B"  # a preset name (peft_edu.models.preset_names()) or CUSTOM
    arch: str = "llama"  # custom model's architecture: a key of ARCHS
    layers: int = 32  # custom: transformer blocks L
    hidden: int = 4096  # custom: hidden size d
    heads: int = 32  # custom: attention heads
    kv_heads: int = 32  # custom: key/value heads (grouped-query attention when < heads)
    ffn: int = 11008  # custom: feed-forward inner size
    vocab: int = 32000  # custom: vocabulary size
    methods: tuple[str, ...] = ("full", "lora", "qlora")  # registry keys, in registry order
    r: int = 8  # rank of the LoRA family (LoRA, LoRA-FA, LoRA+, Delta-LoRA, DoRA, QLoRA)
    alpha: float = 16.0  # LoRA scaling numerator (alpha / r); changes no count
    targets: tuple[str, ...] = ("q", "v")  # subset of TARGETS, or (ALL_LINEAR,)
    vera_r: int = 256  # VeRA's rank (peft default 256)
    n_tokens: int = 20  # virtual tokens of prompt / prefix tuning
    bottleneck: int = 64  # Houlsby adapter bottleneck m
    ratio: float = 16.0  # LoRA+ lr(B) / lr(A); changes no count
    bits: int = 16  # training precision of the weights: 32 or 16 (QLoRA's base is always NF4)
    double_quant: bool = True  # QLoRA: quantize the NF4 constants again
    batch: int = 8  # sequences per step
    seq: int = 512  # tokens per sequence
    checkpointing: bool = False  # gradient checkpointing
    layer_out: int = 1000  # one-layer view: d_out
    layer_in: int = 1000  # one-layer view: d_in
    layer_r: int = 4  # one-layer view: LoRA rank

    @property
    def is_custom(self) -> bool:
        return self.model == CUSTOM


DEFAULT = CalcConfig()


def knob_field(method: str, name: str) -> str | None:
    """The CalcConfig field that sets field ``name`` of ``method``'s Config, or None.

    A field named ``<method>_<name>`` is that method's own input and wins: VeRA's rank is
    about a hundred times LoRA's, so ``vera_r`` is not the shared ``r``. Otherwise the
    shared field of that name (``r`` for the whole LoRA family), if the page has one."""
    for field in (f"{method}_{name}", name):
        if field in KNOBS:
            return field
    return None


def _number(key: str, raw: str, default, messages: list[str]):
    """``raw`` as the field's type within NUMBERS[key]'s bounds, else ``default`` + message."""
    field, low, high = NUMBERS[key]
    kind = type(default)
    try:
        value = kind(float(raw)) if kind is float else int(raw.strip())
    except (TypeError, ValueError):
        messages.append(f"`{key}={raw}` is not a {'number' if kind is float else 'whole number'}; "
                        f"using {default:,}.")
        return default
    if not low <= value <= high:
        messages.append(f"`{key}={raw}` is out of range ({low:,} to {high:,}); using {default:,}.")
        return default
    return value


def _flag(key: str, raw: str, default: bool, messages: list[str]) -> bool:
    if raw in ("1", "true", "True", "yes", "on"):
        return True
    if raw in ("0", "false", "False", "no", "off"):
        return False
    messages.append(f"`{key}={raw}` should be 1 or 0; using {int(default)}.")
    return default


def _methods(raw: str, messages: list[str]) -> tuple[str, ...]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    unknown = [k for k in keys if k not in METHODS]
    chosen = tuple(k for k in METHODS if k in keys)  # registry order, no duplicates
    fallback = f"; using {', '.join(DEFAULT.methods)}" if not chosen else ""
    if unknown:
        messages.append(f"unknown method(s) {', '.join(unknown)} in the URL (valid: {', '.join(METHODS)}){fallback}.")
    elif not chosen:
        messages.append(f"no method in `methods={raw}`{fallback}.")
    return chosen or DEFAULT.methods


def _targets(raw: str, messages: list[str]) -> tuple[str, ...]:
    keys = [t.strip() for t in raw.split(",") if t.strip()]
    if keys == [ALL_LINEAR]:
        return (ALL_LINEAR,)
    if not keys or set(keys) - set(TARGETS):
        messages.append(f"`targets={raw}` should be some of {', '.join(TARGETS)} or `{ALL_LINEAR}`; "
                        f"using {','.join(DEFAULT.targets)}.")
        return DEFAULT.targets
    return tuple(t for t in TARGETS if t in keys)


def _model(raw: str, presets: list[str], messages: list[str]) -> str:
    if raw == CUSTOM or raw in presets:
        return raw
    messages.append(f"unknown model `{raw}`; using {DEFAULT.model}. Presets: {', '.join(presets)}.")
    return DEFAULT.model


def _first(value) -> str:
    """st.query_params gives the last value of a repeated key; plain dicts may hold lists."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else ""
    return str(value)


def parse_query(params: Mapping[str, object], presets: list[str]) -> tuple[CalcConfig, list[str]]:
    """The configuration a URL describes, and a message for each value that was replaced.

    Unknown keys are ignored (other pages may add their own); missing keys take defaults.
    """
    messages: list[str] = []
    raw = {k: _first(v) for k, v in params.items()}
    values: dict[str, object] = {}
    if "model" in raw:
        values["model"] = _model(raw["model"], presets, messages)
    if "arch" in raw:
        if raw["arch"] in ARCHS:
            values["arch"] = raw["arch"]
        else:
            messages.append(f"unknown architecture `{raw['arch']}`; using {DEFAULT.arch}.")
    for key, (field, _, _) in NUMBERS.items():
        if key in raw:
            values[field] = _number(key, raw[key], getattr(DEFAULT, field), messages)
    for key, field in FLAGS.items():
        if key in raw:
            values[field] = _flag(key, raw[key], getattr(DEFAULT, field), messages)
    if "methods" in raw:
        values["methods"] = _methods(raw["methods"], messages)
    if "targets" in raw:
        values["targets"] = _targets(raw["targets"], messages)
    if "bits" in raw:
        values["bits"] = _number_choice("bits", raw["bits"], BITS[:2], DEFAULT.bits, messages)
    config, problems = validate(dataclasses.replace(DEFAULT, **values))
    return config, messages + problems


def _number_choice(key: str, raw: str, choices: tuple[int, ...], default: int, messages: list[str]) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value not in choices:
        messages.append(f"`{key}={raw}` should be one of {', '.join(map(str, choices))}; using {default}.")
        return default
    return value


def validate(config: CalcConfig) -> tuple[CalcConfig, list[str]]:
    """Fix combinations no model can have (custom dimensions only), saying what changed."""
    if not config.is_custom:
        return config, []
    messages: list[str] = []
    c = config
    rope = c.arch == "llama"  # rotary embeddings rotate pairs of values: the head size must be even
    if rope and c.hidden % 2:
        messages.append(f"a Llama-style hidden size must be even (RoPE); using {c.hidden + 1:,}.")
        c = dataclasses.replace(c, hidden=c.hidden + 1)
    if c.hidden % c.heads or (rope and (c.hidden // c.heads) % 2):
        heads = _divisor_near(c.hidden, c.heads, rope)
        why = "not divisible by" if c.hidden % c.heads else "split into odd-sized heads (RoPE needs even) by"
        messages.append(f"hidden size {c.hidden:,} is {why} {c.heads:,} heads; using {heads:,} heads.")
        kv = heads if c.kv_heads == c.heads else c.kv_heads  # no grouped-query attention stays none
        c = dataclasses.replace(c, heads=heads, kv_heads=kv)
    if not rope and c.kv_heads != c.heads:
        c = dataclasses.replace(c, kv_heads=c.heads)  # only the Llama style has grouped-query attention
    if c.heads % c.kv_heads:
        messages.append(f"{c.heads:,} heads are not divisible by {c.kv_heads:,} key/value heads; "
                        f"using {c.heads:,} (no grouped-query attention).")
        c = dataclasses.replace(c, kv_heads=c.heads)
    return c, messages


def _divisor_near(n: int, wanted: int, even_quotient: bool = False) -> int:
    """The divisor k of n closest to ``wanted`` (ties: the smaller), n / k even if asked
    (n is even then, so k = n / 2 always qualifies)."""
    divisors = [k for k in range(1, min(n, 1024) + 1)
                if n % k == 0 and (not even_quotient or (n // k) % 2 == 0)]
    return min(divisors, key=lambda k: (abs(k - wanted), k))


def to_query(config: CalcConfig) -> dict[str, str]:
    """The URL parameters of ``config`` (every field, so a shared link is complete)."""
    q = {"model": config.model}
    if config.is_custom:
        q["arch"] = config.arch
        for key in ("L", "d", "heads", "kv", "ffn", "vocab"):
            q[key] = _fmt(getattr(config, NUMBERS[key][0]))
    q["methods"] = ",".join(config.methods)
    for key in ("r", "alpha", "targets", "vera_r", "tokens", "bottleneck", "ratio", "bits", "dq",
                "batch", "seq", "ckpt", "lo", "li", "lr"):
        if key == "targets":
            q[key] = ",".join(config.targets)
        elif key in FLAGS:
            q[key] = "1" if getattr(config, FLAGS[key]) else "0"
        elif key == "bits":
            q[key] = str(config.bits)
        else:
            q[key] = _fmt(getattr(config, NUMBERS[key][0]))
    return q


def _fmt(value) -> str:
    """3 -> '3', 16.0 -> '16', 0.5 -> '0.5' (short, and parses back to the same value)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
