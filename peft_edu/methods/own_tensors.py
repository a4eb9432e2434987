"""Helpers for the methods that train some of the base model's OWN tensors in place
(BitFit trains its bias vectors, LN tuning its normalisation layers): nothing is wrapped,
``apply`` froze everything and these unfreeze a chosen few.

Kept apart from ``layers.py`` (which wraps linear layers) because what these methods train
is decided by the architecture: which families have bias terms, how many norms a model has
and whether they carry a bias (Llama's RMSNorm has a gain only).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class NormFacts:
    """Where a family keeps its normalisation layers, and what they hold."""

    per_block: int  # norms inside each transformer block
    outside: int  # norms outside the blocks (BERT: after the embeddings; GPT-2, Llama: the final one)
    has_bias: bool  # LayerNorm: gain and bias; RMSNorm: gain only
    linear_bias: bool  # do the block's linear layers have bias vectors?


#: family -> its norms (the toy MLP has none, and biases on every layer)
FAMILY_NORMS = {
    "bert": NormFacts(per_block=2, outside=1, has_bias=True, linear_bias=True),
    "gpt2": NormFacts(per_block=2, outside=1, has_bias=True, linear_bias=True),
    "llama": NormFacts(per_block=2, outside=1, has_bias=False, linear_bias=False),
    "mlp": NormFacts(per_block=0, outside=0, has_bias=False, linear_bias=True),
}


def facts(arch) -> NormFacts:
    if arch.family not in FAMILY_NORMS:
        raise ValueError(f"unsupported family {arch.family!r}; supported: {', '.join(FAMILY_NORMS)}")
    return FAMILY_NORMS[arch.family]


def n_norms(arch) -> int:
    """Normalisation layers of the whole model: per_block · L + outside."""
    f = facts(arch)
    return f.per_block * arch.n_layers + f.outside


def is_norm(module: nn.Module) -> bool:
    """nn.LayerNorm, or an RMSNorm (Llama's and Mistral's own classes, torch's nn.RMSNorm)."""
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")


def _outside_head(name: str, arch) -> bool:
    return not any(name == h or name.startswith(h + ".") for h in arch.head)


def norm_modules(model: nn.Module, arch) -> dict[str, nn.Module]:
    """Every normalisation layer outside the task head, by full name, in model order."""
    return {name: m for name, m in model.named_modules() if is_norm(m) and _outside_head(name, arch)}


def bias_parameters(model: nn.Module, arch) -> dict[str, nn.Parameter]:
    """Every bias vector outside the task head (linear layers, norms, BERT's pooler), by name."""
    return {name: p for name, p in model.named_parameters()
            if name.rsplit(".", 1)[-1] == "bias" and _outside_head(name, arch)}


def first_block(arch) -> str:
    """Name prefix of block 0 (the one a method page draws)."""
    return arch.block_path(0, "")
