"""What a method makes autograd keep for the backward pass: the data each method states.

Every method module says in its ``activation_profile(shape, cfg, targets)`` (the protocol
in ``peft_edu.methods``) which tensors it adds to the frozen model's saved activations;
``peft_edu.sizing.activations`` turns that profile into bytes. This module holds what those
functions read and return. It is plain Python and imports nothing from ``peft_edu``, so a
method module can use it without an import circle.

Targets here are the calculator's generic names: q, k, v, o (attention projections) and
mlp (every feed-forward projection).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the type hint: peft_edu.models imports torch
    from peft_edu.models import Arch

TARGETS = ("q", "k", "v", "o", "mlp")  # attention projections and the feed-forward block


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

    @classmethod
    def from_arch(cls, arch: Arch, vocab: int) -> ModelShape:
        """The shape of the model ``arch`` describes (``peft_edu.models.Arch``, which holds
        the dimensions read from its config). Two FFN input projections (gate and up) make a
        gated MLP; a causal-LM task puts a language-model head on top."""
        return cls(n_layers=arch.n_layers, d_model=arch.d_model, n_heads=arch.n_heads,
                   n_kv_heads=arch.n_kv_heads, d_ff=arch.d_ff, vocab=vocab,
                   gated_mlp=len(arch.ffn_in) > 1, lm_head=arch.task == "causal_lm")

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
class ActivationProfile:
    """What a method makes autograd keep in each layer, beyond the frozen model's own needs."""

    attn_in: bool = False  # input of q/k/v kept (one of them has a trainable weight or LoRA A)
    o_in: bool = False  # input of the attention output projection kept
    mlp_in: bool = False  # input of the MLP's first projection(s) kept
    down_in: bool = False  # input of the MLP's down projection kept
    extra_per_token: int = 0  # further values kept per token and layer (LoRA's A·x, ...)
    extra_input_tokens: int = 0  # prompt tuning makes every sequence longer
    extra_kv_tokens: int = 0  # prefix tuning adds keys and values in every layer


EVERY_INPUT = ActivationProfile(attn_in=True, o_in=True, mlp_in=True, down_in=True)  # all weights train


def target_outs(shape: ModelShape, targets: tuple[str, ...]) -> list[int]:
    """d_out of every linear layer behind the targets: mlp is [f, h], or [f, f, h] with SwiGLU."""
    unknown = set(targets) - set(TARGETS)
    if unknown or not targets:
        raise ValueError(f"targets must be a non-empty subset of {TARGETS}, got {targets}")
    h, f, kv = shape.d_model, shape.d_ff, shape.kv_dim
    outs = {"q": [h], "k": [kv], "v": [kv], "o": [h], "mlp": [f, f, h] if shape.gated_mlp else [f, h]}
    return [d for t in targets for d in outs[t]]


def wrapping_profile(shape: ModelShape, targets: tuple[str, ...], keeps_input: bool,
                     per_layer: int, per_output: int = 0) -> ActivationProfile:
    """The profile of a method that wraps the target layers (the LoRA family).

    ``keeps_input``: the wrapped layer's input x is kept, because a trained weight that
    multiplies x (LoRA's A) needs it for its gradient. Every wrapped layer also keeps
    ``per_layer`` values per token (LoRA's A·x: r) and ``per_output`` values per output
    feature (DoRA: 2, the base and LoRA outputs for m's gradient)."""
    outs = target_outs(shape, targets)
    return ActivationProfile(
        attn_in=keeps_input and bool({"q", "k", "v"} & set(targets)),
        o_in=keeps_input and "o" in targets,
        mlp_in=keeps_input and "mlp" in targets,
        down_in=keeps_input and "mlp" in targets,
        extra_per_token=per_layer * len(outs) + per_output * sum(outs),
    )
