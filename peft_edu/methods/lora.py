"""LoRA: Low-Rank Adaptation of Large Language Models (Hu et al., 2021, arXiv 2106.09685).

    h = W0 x + (alpha / r) · B A x        A: (r, d_in), B: (d_out, r), W0 frozen

The weight update of fine-tuning has low intrinsic rank (§4.1), so LoRA learns it as the
product of two thin matrices. A starts random (Kaiming-uniform, as Hugging Face peft does)
and B at zero, so the adapted model equals the pretrained one at step 0 (§4.1). Because
``B A`` has W0's shape it can be added into W0 after training: no extra inference cost.
Trainable per layer: r · (d_in + d_out).

``LoRALinear`` is also the layer of LoRA-FA, LoRA+, Delta-LoRA, DoRA and QLoRA.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.methods.layers import base_weight, factory_kwargs, first_target, linear_shape, wrap_targets
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True  # apply(targets=...) picks the linear layers this method wraps
PEFT_NAMES = {"A": "lora_A.weight", "B": "lora_B.weight"}  # Hugging Face peft's tensor names


@dataclass(frozen=True)
class Config:
    r: int = 8  # rank of the update B A (peft default 8)
    alpha: float = 8.0  # the update is scaled by alpha / r (peft's lora_alpha, default 8)
    dropout: float = 0.0  # dropout on the input of the low-rank path (peft's lora_dropout)
    use_rslora: bool = False  # rank-stabilised scaling alpha / sqrt(r) (arXiv 2312.03732)

    def __post_init__(self) -> None:
        check_rank(self.r)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def check_rank(r: int) -> None:
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise ValueError(f"r must be an integer >= 1, got {r!r}")


def scaling(cfg: Config) -> float:
    """alpha / r, or alpha / sqrt(r) for rsLoRA (which keeps the update's size stable in r)."""
    return cfg.alpha / math.sqrt(cfg.r) if cfg.use_rslora else cfg.alpha / cfg.r


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * (d_in + d_out)  # A: r·d_in, B: d_out·r


# The lab: alpha = 2r gives the update twice peft's default weight. Measured with
# scripts/measure_lab_defaults.py (batch 16, seeds 0-2): at lr 3e-3 the whole test split passed
# 90 % at step 35 (median; 2e-3: step 40, 8e-3: stuck at 50 %) and 98 % by step 45; 80 steps
# give the slowest seed time to get there too.
LAB = LabDefaults(lr=3e-3, steps=80, config=Config(r=8, alpha=16.0))


class LoRALinear(nn.Module):
    """Wraps a frozen linear layer ``base`` (W0) and adds (alpha / r) · B A x."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__()
        self.base = base  # frozen W0: nn.Linear, GPT-2's Conv1D (stores W0ᵀ) or NF4Linear
        self.d_out, self.d_in = linear_shape(base)
        self.r = cfg.r
        self.scaling = scaling(cfg)
        like = factory_kwargs(base)
        self.A = nn.Parameter(torch.empty(cfg.r, self.d_in, **like))  # (r, d_in)
        self.B = nn.Parameter(torch.zeros(self.d_out, cfg.r, **like))  # (d_out, r): zero => ΔW = 0 at start
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.merged = False  # True while ΔW lives inside W0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # (..., d_out)
        if self.merged:
            return h
        z = F.linear(self.dropout(x), self.A)  # (..., r)
        # (alpha / r) · B z, with the scaling applied to B (d_out × r numbers) rather than to the
        # product (one number per token and output): the same update, fewer multiplications
        return h + F.linear(z, self.B * self.scaling)  # (..., d_out)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha / r) · B A, shape (d_out, d_in): the one truth for merge and tests."""
        return self.scaling * (self.B @ self.A)

    @torch.no_grad()
    def merge(self) -> None:
        """W0 <- W0 + ΔW; the forward pass then costs exactly the base layer's."""
        if not self.merged:
            W0 = base_weight(self.base)  # (d_out, d_in) view into the base's storage
            W0 += self.delta_weight().to(W0.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            W0 = base_weight(self.base)
            W0 -= self.delta_weight().to(W0.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, r={self.r}, scaling={self.scaling:g}"


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every layer named in ``arch.targets`` in a ``LoRALinear``."""
    wrap_targets(model, arch.targets, lambda base: LoRALinear(base, cfg))


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's LoraConfig keys (peft_edu.export); LoRA-FA, LoRA+ and QLoRA save the same."""
    return {"target_modules": list(arch.targets), "fan_in_fan_out": arch.fan_in_fan_out, "bias": "none",
            "r": cfg.r, "lora_alpha": cfg.alpha, "lora_dropout": cfg.dropout, "use_rslora": cfg.use_rslora,
            "use_dora": False, "init_lora_weights": True}


def peft_options(config: dict) -> dict | None:
    """Our Config's values from a peft LoraConfig; None for DoRA's (``use_dora``) and for a
    PiSSA start (``init_lora_weights`` "pissa..."), whose base must become the residual."""
    if config.get("use_dora") or str(config.get("init_lora_weights")).startswith("pissa"):
        return None
    return {"r": config["r"], "alpha": float(config["lora_alpha"]), "dropout": config.get("lora_dropout", 0.0),
            "use_rslora": config.get("use_rslora", False)}


# ---------------------------------------------------------------- the method page
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0), race_lr=0.03)  # alpha = r: scaling 1 at every rank


def watch(model: nn.Module) -> list[Watched]:
    """What the method page draws of the first adapted layer: W0, B, A and ΔW."""
    layer = first_target(model)
    return [Watched("W0", "W₀", "frozen", "d_out", "d_in", lambda: base_weight(layer.base)),
            Watched("B", "B", "trainable", "d_out", "r", lambda: layer.B),
            Watched("A", "A", "trainable", "r", "d_in", lambda: layer.A),
            Watched("dW", "ΔW = delta_weight()", "delta", "d_out", "d_in", layer.delta_weight)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """What training keeps per layer for backward: each wrapped layer's input x (A's
    gradient needs it) and A·x, r values per token (B's gradient needs it)."""
    return wrapping_profile(shape, targets, keeps_input=True, per_layer=cfg.r)
