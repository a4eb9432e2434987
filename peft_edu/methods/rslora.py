"""rsLoRA: A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA
(Kalajdzievski, 2023, arXiv 2312.03732).

    h = W0 x + (alpha / sqrt(r)) · B A x        A: (r, d_in), B: (d_out, r), W0 frozen

LoRA scales the update by alpha / r. The paper shows (§3) that with that factor the
update, and the gradients it passes back, shrink as the rank r grows: a rank-64 adapter
learns no better than a rank-8 one. Only the factor alpha / sqrt(r) keeps them the same
size at every rank ("rank-stabilized"), so raising r buys capacity instead of a slower
start. Nothing else changes: LoRA's layer, initialisation (A Kaiming-uniform, B = 0, so the
model starts as the base), count and merge. Hugging Face peft: LORA with ``use_rslora``.
Trainable per layer: r · (d_in + d_out), like LoRA.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, lora
from peft_edu.methods.layers import wrap_targets
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = True
PEFT_NAMES = lora.PEFT_NAMES  # saved as LoRA with use_rslora = true


@dataclass(frozen=True)
class Config:
    r: int = 8  # rank of the update B A (peft default 8)
    alpha: float = 8.0  # the update is scaled by alpha / sqrt(r) (peft's lora_alpha, default 8)
    dropout: float = 0.0  # dropout on the input of the low-rank path (peft's lora_dropout)

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def layer_config(cfg: Config) -> lora.Config:
    """The LoRA layer's config: the same knobs with the rank-stabilized scaling switched on."""
    return lora.Config(r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout, use_rslora=True)


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * (d_in + d_out)  # A: r·d_in, B: d_out·r, as LoRA


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every target in a ``LoRALinear`` whose scaling is alpha / sqrt(r)."""
    wrap_targets(model, arch.targets, lambda base: LoRALinear(base, layer_config(cfg)))


def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's LoraConfig with ``use_rslora`` (peft_edu.export): in peft, rsLoRA is an option of LoRA."""
    return lora.peft_config(layer_config(cfg), arch, model)


# The lab: alpha = 16 as LoRA's lab run; at r = 8 that is a scaling of 16 / sqrt(8) = 5.7
# (LoRA: 2), so the learning rate is lower than LoRA's.
# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0):
# 90 % at step 50, 97.5 % from 50 to 100.
LAB = LabDefaults(lr=1e-3, steps=80, config=Config(r=8, alpha=16.0))
# The page and the Compare race: r = 4, alpha = 4 (the page sets alpha = r at each slider stop).
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0), race_lr=0.03)
watch = lora.watch  # the layer is LoRA's


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA's tensors: only the scaling differs."""
    return lora.activation_profile(shape, cfg, targets)
