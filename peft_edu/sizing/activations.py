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

from peft_edu.methods import protocol
from peft_edu.sizing.profile import ActivationProfile, ModelShape

__all__ = ["LSE_BYTES", "ActivationProfile", "ActivationSetup", "ModelShape", "activation_bytes",
           "activation_profile", "layer_activation_bytes"]

LSE_BYTES = 4  # a fused kernel keeps one fp32 log-sum-exp per head and query


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


def activation_profile(method: str, shape: ModelShape, targets: tuple[str, ...] = ("q", "v"),
                       **config) -> ActivationProfile:
    """Which tensors ``method`` adds to the frozen model's saved activations.

    The method's module says it (``activation_profile`` in ``peft_edu.methods.<method>``);
    ``config`` are the method's Config fields (``r=8``, ``n_tokens=20``, ...), ``targets`` the
    adapted layers as generic names (q, k, v, o, mlp) for the methods that wrap layers.
    """
    spec = protocol(method)
    return spec.activation_profile(shape, spec.config(**config), tuple(targets))


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
