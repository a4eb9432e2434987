"""DoRA: Weight-Decomposed Low-Rank Adaptation (Liu et al., 2024, arXiv 2402.09353).

    W' = m ⊙ (W0 + s B A) / ‖W0 + s B A‖_row,     s = alpha / r

Each weight is split into a magnitude m (one number per output row: the row's norm over
d_in) and a direction (the unit row). LoRA adapts the direction, m trains directly (§4.1);
m starts at ‖W0‖_row, so W' = W0 at step 0. The norm is treated as a constant in the
backward pass, which saves memory at no loss of accuracy (§4.3).
Trainable per layer: r · (d_in + d_out) + d_out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import base_weight, first_target, wrap_targets
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
PEFT_NAMES = {**lora.PEFT_NAMES, "m": "lora_magnitude_vector"}  # peft: LORA with use_dora


@dataclass(frozen=True)
class Config(lora.Config):
    """LoRA's knobs (r, alpha, dropout, use_rslora); m needs none."""


# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 93.3 % at step 40,
# 96-99 % after.
LAB = LabDefaults(lr=2e-3, steps=70, config=Config(r=8, alpha=16.0))


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * (d_in + d_out) + d_out  # A, B and the magnitude m


class DoRALinear(LoRALinear):
    """LoRA on the direction of W0, plus a trainable magnitude ``m`` per output row."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__(base, cfg)
        W0 = base_weight(base).detach()  # (d_out, d_in)
        self.m = nn.Parameter(W0.norm(dim=1).to(self.A.dtype))  # (d_out,): ‖W0‖ per row

    @torch.no_grad()
    def weight_norm(self) -> torch.Tensor:
        """‖W0 + s B A‖ per output row, (d_out,), computed without gradient (§4.3)."""
        return (base_weight(self.base) + self.scaling * (self.B @ self.A)).norm(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        scale = self.m / self.weight_norm()  # (d_out,): magnitude over current norm
        h = F.linear(x, base_weight(self.base))  # (..., d_out): W0 x, no bias
        h = h + F.linear(F.linear(self.dropout(x), self.A), self.B) * self.scaling
        h = scale * h  # (..., d_out): m ⊙ (W0 + sBA) x / ‖W0 + sBA‖
        return h if self.base.bias is None else h + self.base.bias

    def delta_weight(self) -> torch.Tensor:
        """ΔW = W' - W0, (d_out, d_in)."""
        W0 = base_weight(self.base)
        W = W0 + self.scaling * (self.B @ self.A)
        return (self.m / self.weight_norm())[:, None] * W - W0

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.merged_norm = self.weight_norm()  # W' alone cannot give it back: its rows have norm m
            super().merge()

    @torch.no_grad()
    def unmerge(self) -> None:
        """W0 = W' · ‖W0 + sBA‖ / m - s B A."""
        if self.merged:
            W = base_weight(self.base)
            W0 = W * (self.merged_norm / self.m)[:, None] - self.scaling * (self.B @ self.A)
            W.copy_(W0.to(W.dtype))
            self.merged = False


def inject(model: nn.Module, cfg: Config, arch) -> None:
    wrap_targets(model, arch.targets, lambda base: DoRALinear(base, cfg))


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's LoraConfig with ``use_dora``: in peft, DoRA is an option of LoRA."""
    return {**lora.peft_config(cfg, arch, model), "use_dora": True}


def peft_options(config: dict) -> dict | None:
    """LoRA's options from a peft LoraConfig with ``use_dora``; None for a plain LoRA one."""
    return lora.peft_options({**config, "use_dora": False}) if config.get("use_dora") else None


# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0), race_lr=0.03)  # alpha = r: scaling 1


def watch(model: nn.Module) -> list[Watched]:
    """LoRA's W0, B and A, the magnitude m, and ΔW = W' − W0."""
    layer = first_target(model)
    views = [v for v in lora.watch(model) if v.name != "dW"]
    return views + [Watched("m", "m (magnitude)", "trainable", "d_out", "1", lambda: layer.m),
                    Watched("dW", "ΔW = W′ − W₀", "delta", "d_out", "d_in", layer.delta_weight)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA's x and A·x, plus for every output feature the base and LoRA outputs (2 values)
    that m's gradient needs through the column norm (as Hugging Face peft computes it)."""
    return wrapping_profile(shape, targets, keeps_input=True, per_layer=cfg.r, per_output=2)
