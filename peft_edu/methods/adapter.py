"""Adapter layers — Houlsby et al., 2019, arXiv 1902.00751 (§2.1, Figure 2).

A small bottleneck network is inserted twice in every transformer block: after the
attention output projection and after the feed-forward output projection, before the
skip connection and layer norm (pre-norm GPT-2 and Llama: before the residual addition).
It has its own skip connection:

    h <- h + W_up f(W_down h + b_down) + b_up,    W_down (m, d), W_up (d, m), m << d

Trainable parameters: 2 d m + d + m per adapter, two adapters per block. The paper also
trains the layer norms of each block ("train_layer_norm", on by default as in the paper:
2 per block, 2 d each — Llama's RMSNorm d each — not counted by ``layer_params``).

Initialisation: the paper draws both projections near zero so that each adapter is close
to the identity (§2.1). We draw W_down so (N(0, 0.01²) truncated at 2σ) and set W_up and
both biases to exactly zero — the limit of "near identity" — so the adapted model equals
the base at step 0, and W_up's gradient is non-zero from the first step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.models import arch_of
from peft_edu.sizing.profile import ActivationProfile, ModelShape

#: the block's two layer norms, per family (block-relative names), trained when train_layer_norm
NORMS = {"bert": ("attention.output.LayerNorm", "output.LayerNorm"), "gpt2": ("ln_1", "ln_2"),
         "llama": ("input_layernorm", "post_attention_layernorm")}  # Llama: RMSNorm, a weight of d only
ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


USES_TARGETS = False  # it adds its own modules; no linear layer is wrapped
SAVED_AS = "peft_edu"  # peft has no Houlsby adapter: our own format, every trainable tensor by name


@dataclass(frozen=True)
class Config:
    bottleneck: int = 64  # m; the paper searches {8, 64, 256}
    activation: str = "gelu"  # f, the non-linearity of the bottleneck
    train_layer_norm: bool = True  # paper §2.1: the block's layer norms train too
    seed: int = 0  # seed for W_down's init

    def __post_init__(self):
        if self.bottleneck < 1:
            raise ValueError(f"bottleneck must be >= 1, got {self.bottleneck}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    """One adapter after a projection of output width d = d_out: 2 d m + d + m."""
    d, m = d_out, cfg.bottleneck
    return 2 * d * m + d + m


# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 97.1 % at step 50,
# 95-100 % after.
LAB = LabDefaults(lr=1e-3, steps=70, config=Config(bottleneck=64))


def model_params(arch, cfg: Config) -> int:
    """Two adapters per block, plus the block's two norms when they train: LayerNorm 2 d
    each (gain and bias); Llama's RMSNorm d each (gain only)."""
    d = arch.d_model
    per_norm = d if arch.family == "llama" else 2 * d  # RMSNorm has no bias
    norms = 2 * per_norm if cfg.train_layer_norm else 0
    return arch.n_layers * (2 * layer_params(d, d, cfg) + norms)


class Adapter(nn.Module):
    """The bottleneck: h + W_up f(W_down h + b_down) + b_up."""

    def __init__(self, d: int, cfg: Config, gen: torch.Generator, device=None):
        super().__init__()
        W_down = torch.empty(cfg.bottleneck, d, device=device)
        if W_down.device.type != "meta":  # counting builds on "meta": shapes only, no init
            W_down = nn.init.trunc_normal_(W_down.cpu(), std=0.01, a=-0.02, b=0.02, generator=gen).to(device)
        self.W_down = nn.Parameter(W_down)  # (m, d)
        self.b_down = nn.Parameter(torch.zeros(cfg.bottleneck, device=device))  # (m,)
        self.W_up = nn.Parameter(torch.zeros(d, cfg.bottleneck, device=device))  # (d, m): zero, so h is unchanged at init
        self.b_up = nn.Parameter(torch.zeros(d, device=device))  # (d,)
        self.f = ACTIVATIONS[cfg.activation]

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, d)
        z = self.f(F.linear(h, self.W_down, self.b_down))  # (B, T, m)
        return h + F.linear(z, self.W_up, self.b_up)  # (B, T, d)


class WithAdapter(nn.Module):
    """A frozen projection followed by an adapter: adapter(base(x))."""

    def __init__(self, base: nn.Module, adapter: Adapter):
        super().__init__()
        self.base = base  # frozen output projection (nn.Linear or GPT-2's Conv1D)
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


def inject(model: nn.Module, cfg: Config, arch=None) -> None:
    """Insert two adapters per block; unfreeze the block's layer norms if asked (model already frozen)."""
    arch = arch or arch_of(model)
    if arch.family not in NORMS:
        raise ValueError(f"adapters support BERT-, GPT-2- and Llama-family models, not {arch.family!r}")
    if any(isinstance(m, WithAdapter) for m in model.modules()):
        raise ValueError("adapters are already applied to this model")
    gen = torch.Generator().manual_seed(cfg.seed)  # one stream: every adapter gets its own draw
    for i in range(arch.n_layers):
        for rel in (arch.o, arch.ffn_out):  # after attention, after the FFN (Figure 2)
            base = model.get_submodule(arch.block_path(i, rel))
            adapter = Adapter(arch.d_model, cfg, gen, device=base.weight.device)
            model.set_submodule(arch.block_path(i, rel), WithAdapter(base, adapter))
        for rel in NORMS[arch.family] if cfg.train_layer_norm else ():
            model.get_submodule(arch.block_path(i, rel)).requires_grad_(True)


# ---------------------------------------------------------------- the method page
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("transformer", Config(bottleneck=4), race_lr=0.03)


def watch(model: nn.Module) -> list[Watched]:
    """The two adapters of block 0: after attention and after the feed-forward layer."""
    arch = model.peft_edu_applied.arch
    views = []
    for where, rel in (("att", arch.o), ("ffn", arch.ffn_out)):
        adapter = model.get_submodule(arch.block_path(0, rel)).adapter
        label = "attention" if where == "att" else "FFN"
        views += [Watched(f"Wd_{where}", f"W_down (after {label})", "trainable", "m", "d", lambda a=adapter: a.W_down),
                  Watched(f"Wu_{where}", f"W_up (after {label})", "trainable", "d", "m", lambda a=adapter: a.W_up)]
    return views


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """Two adapters per layer; each keeps its input (h) and its bottleneck before and after
    the non-linearity (2m): 2·(h + 2m) values per token. The frozen layers keep nothing."""
    return ActivationProfile(extra_per_token=2 * (shape.d_model + 2 * cfg.bottleneck))
