"""Activation memory: the tensors autograd keeps from the forward pass for the backward pass.

The per-layer count follows Korthikanti et al. 2022, "Reducing Activation Recomputation
in Large Transformer Models" (arXiv 2205.05198, §4.1): with 16-bit activations, 1-byte
dropout masks and a 4h feed-forward, one transformer layer keeps

    s·b·h·(34 + 5·a·s/h)  bytes.

We keep their accounting, tensor by tensor, and generalise it to any activation
precision p (bytes), FFN width f, grouped-query attention (K, V of width h_kv), gated
MLPs (SwiGLU), models without dropout, fused attention kernels (FlashAttention / SDPA,
which never store the s×s scores), and — the part that matters for PEFT — frozen linear
layers: PyTorch keeps a linear layer's input only when its weight needs a gradient, so a
frozen layer saves nothing of its own; the method's small extra tensors are added instead.
"""
from __future__ import annotations

from dataclasses import dataclass

LSE_BYTES = 4  # a fused kernel keeps one fp32 log-sum-exp per head and query


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a decoder or encoder transformer that set its memory."""

    n_layers: int  # L: transformer blocks
    d_model: int  # h: hidden size
    n_heads: int  # a: attention heads
    n_kv_heads: int  # key/value heads (= n_heads without grouped-query attention)
    d_ff: int  # f: feed-forward inner size
    vocab: int  # V: vocabulary size
    gated_mlp: bool = False  # SwiGLU MLP (Llama, Mistral): gate, up and down projections
    lm_head: bool = True  # the loss needs logits over the vocabulary (language models)

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be divisible by n_kv_heads ({self.n_kv_heads})")

    @property
    def kv_dim(self) -> int:
        """Width of K and V: n_kv_heads · head_dim (d_model without grouped-query attention)."""
        return self.d_model // self.n_heads * self.n_kv_heads

    def linear_params_per_layer(self) -> int:
        """Weights of one block's linear layers (biases left out): the ones NF4 quantizes."""
        h, f = self.d_model, self.d_ff
        attention = h * h + 2 * h * self.kv_dim + h * h  # q, k, v, o
        return attention + (3 if self.gated_mlp else 2) * h * f


@dataclass(frozen=True)
class ActivationSetup:
    """The batch being trained and how the backward pass is organised."""

    batch: int  # b: sequences per step
    seq: int  # s: tokens per sequence
    checkpointing: bool = False  # recompute each layer in backward, keep only its input
    fused_attention: bool = True  # FlashAttention / SDPA: no s×s score matrix is stored
    dropout: bool = False  # dropout layers (BERT, GPT-2) store 1-byte masks

    def __post_init__(self) -> None:
        if self.batch < 1 or self.seq < 1:
            raise ValueError(f"batch and seq must be >= 1, got {self.batch} and {self.seq}")


@dataclass(frozen=True)
class ActivationProfile:
    """What a method makes autograd keep in each layer, beyond the frozen model's own needs."""

    attn_in: bool  # input of q/k/v kept (one of them has a trainable weight or LoRA A)
    o_in: bool  # input of the attention output projection kept
    mlp_in: bool  # input of the MLP's first projection(s) kept
    down_in: bool  # input of the MLP's down projection kept
    extra_per_token: int = 0  # further values kept per token and layer (LoRA's A·x, ...)
    extra_input_tokens: int = 0  # prompt tuning makes every sequence longer
    extra_kv_tokens: int = 0  # prefix tuning adds keys and values in every layer


ALL_TARGETS = ("q", "k", "v", "o", "mlp")
LOW_RANK = ("lora", "lora_plus", "delta_lora", "qlora", "dora", "lora_fa", "vera")


def _module_outs(shape: ModelShape, target: str) -> list[int]:
    """d_out of each linear layer behind a target name."""
    h, f = shape.d_model, shape.d_ff
    outs = {"q": [h], "k": [shape.kv_dim], "v": [shape.kv_dim], "o": [h]}
    outs["mlp"] = [f, f, h] if shape.gated_mlp else [f, h]
    return outs[target]


def _low_rank_profile(method: str, shape: ModelShape, r: int, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA family. x is kept when A trains (not LoRA-FA, not VeRA); A·x (r values) always;
    DoRA also keeps the base output and the LoRA output (2·d_out) for m's gradient (as in
    Hugging Face peft); VeRA keeps Λ_d's input A·x (r) and Λ_b's input (d_out)."""
    unknown = set(targets) - set(ALL_TARGETS)
    if unknown or not targets:
        raise ValueError(f"targets must be a non-empty subset of {ALL_TARGETS}, got {targets}")
    outs = [d for t in targets for d in _module_outs(shape, t)]
    keeps_x = method not in ("lora_fa", "vera")
    extra = r * len(outs)
    if method == "dora":
        extra += 2 * sum(outs)
    if method == "vera":
        extra += sum(outs)
    return ActivationProfile(
        attn_in=keeps_x and bool({"q", "k", "v"} & set(targets)),
        o_in=keeps_x and "o" in targets,
        mlp_in=keeps_x and "mlp" in targets,
        down_in=keeps_x and "mlp" in targets,
        extra_per_token=extra,
    )


def activation_profile(
    method: str,
    shape: ModelShape,
    r: int = 8,
    targets: tuple[str, ...] = ("q", "v"),
    n_tokens: int = 20,
    bottleneck: int = 64,
) -> ActivationProfile:
    """Which tensors each method adds to the frozen model's saved activations.

    full: every linear input. LoRA family: see ``_low_rank_profile``. Houlsby adapters:
    per adapter its input (h) and the bottleneck before/after the non-linearity (2m), two
    adapters per layer. (IA)³: the unscaled k, v (2·h_kv) and FFN activation (f).
    Prompt tuning: n more tokens everywhere. Prefix tuning: n more keys and values.
    """
    if method == "full":
        return ActivationProfile(True, True, True, True)
    if method in LOW_RANK:
        return _low_rank_profile(method, shape, r, tuple(targets))
    none = dict(attn_in=False, o_in=False, mlp_in=False, down_in=False)
    if method == "adapter":
        return ActivationProfile(**none, extra_per_token=2 * (shape.d_model + 2 * bottleneck))
    if method == "ia3":
        return ActivationProfile(**none, extra_per_token=2 * shape.kv_dim + shape.d_ff)
    if method == "prompt_tuning":
        return ActivationProfile(**none, extra_input_tokens=n_tokens)
    if method == "prefix_tuning":
        return ActivationProfile(**none, extra_kv_tokens=n_tokens)
    raise ValueError(f"no activation model for method {method!r}")


def layer_activation_bytes(shape: ModelShape, prof: ActivationProfile, setup: ActivationSetup, p: float) -> float:
    """Bytes one transformer layer keeps for backward (T = b·s tokens, p bytes per value):

        norms              2·p·T·h          (LayerNorm/RMSNorm inputs)
        Q, K, V            p·T·(h + 2·h_kv)
        FFN non-linearity  p·T·f            (×3 for SwiGLU: gate, up, SiLU output)
        scores             p·a·b·s²  (+ (1+p)·a·b·s² with dropout)   standard attention
                           p·T·h + 4·a·T                             fused kernel
        trained inputs     p·T·(h [q,k,v] + h [o] + h [MLP in] + f [down])  if those train
        dropout masks      2·T·h            (1 byte each, when the model has dropout)
        method extras      p·T·e            (e values per token, see activation_profile)

    Full fine-tuning, p = 2, f = 4h, dropout, standard attention gives Korthikanti's
    s·b·h·(34 + 5·a·s/h).
    """
    b, s, h, f, a = setup.batch, setup.seq + prof.extra_input_tokens, shape.d_model, shape.d_ff, shape.n_heads
    s_kv = s + prof.extra_kv_tokens
    tokens = b * s
    kept = 2 * p * tokens * h
    kept += p * (tokens * h + 2 * b * s_kv * shape.kv_dim)
    kept += p * tokens * f * (3 if shape.gated_mlp else 1)
    if setup.fused_attention:
        kept += p * tokens * h + LSE_BYTES * a * tokens
    else:
        kept += a * b * s * s_kv * (p + ((1 + p) if setup.dropout else 0))
    inputs = h * (prof.attn_in + prof.o_in + prof.mlp_in) + f * prof.down_in
    kept += p * tokens * inputs
    kept += 2 * tokens * h if setup.dropout else 0
    return kept + p * tokens * prof.extra_per_token


def activation_bytes(shape: ModelShape, prof: ActivationProfile, setup: ActivationSetup, p: float) -> float:
    """Whole-model activations:

        without checkpointing:  L · layer + outside
        with checkpointing:     L · p·b·s·h + layer + outside
                                (each layer's input, plus one layer recomputed in backward)
        outside = p·b·s·h (embedding output / final norm)
                  + b·s·V·(p + 4) with a language-model head
                    (the logits, and their fp32 log-softmax kept by the loss)
    """
    tokens = setup.batch * (setup.seq + prof.extra_input_tokens)
    layer = layer_activation_bytes(shape, prof, setup, p)
    outside = p * tokens * shape.d_model
    if shape.lm_head:
        outside += tokens * shape.vocab * (p + 4)
    if setup.checkpointing:
        return shape.n_layers * p * tokens * shape.d_model + layer + outside
    return shape.n_layers * layer + outside
