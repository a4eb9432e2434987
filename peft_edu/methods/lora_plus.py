"""LoRA+: Efficient Low Rank Adaptation of Large Models (Hayou et al., 2024, arXiv 2402.12354).

    h = W0 x + (alpha / r) · B A x,     lr(B) = ratio · lr(A)

In wide networks A and B need different learning rates for efficient feature learning
(§3-4); the paper's rule of thumb is a ratio of 16. The layer is LoRA's unchanged: LoRA+
is a recipe for the optimizer, given here as parameter groups.
Trainable per layer: r · (d_in + d_out), like LoRA.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, lora
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = True
PEFT_NAMES = lora.PEFT_NAMES  # saved as plain LoRA: the ratio only changed the optimizer
peft_config = lora.peft_config  # a LoraConfig: peft reads the file back as plain LoRA


@dataclass(frozen=True)
class Config(lora.Config):
    ratio: float = 16.0  # lr(B) / lr(A) (the paper's default rule of thumb, §4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ratio <= 0:
            raise ValueError(f"ratio must be > 0, got {self.ratio}")


# B learns at ratio × lr = 8e-3: the base rate is a quarter of LoRA's so that B's is not too large.
# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 95.8 % at step 40,
# 97-99 % after.
LAB = LabDefaults(lr=5e-4, steps=70, config=Config(r=8, alpha=16.0, ratio=16.0))


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return lora.layer_params(d_out, d_in, cfg)


def inject(model: nn.Module, cfg: Config, arch) -> None:
    lora.inject(model, cfg, arch)


def param_groups(model: nn.Module, lr: float, cfg: Config) -> list[dict]:
    """Optimizer parameter groups: every B at ``cfg.ratio * lr``, everything else trainable at ``lr``.

    Use as ``torch.optim.AdamW(param_groups(model, 1e-4, cfg), ...)``.
    """
    ratio = cfg.ratio
    B_ids = {id(layer.B) for layer in model.modules() if isinstance(layer, LoRALinear)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if id(p) not in B_ids], "lr": lr},  # A (and the head)
        {"params": [p for p in trainable if id(p) in B_ids], "lr": lr * ratio},  # B
    ]


# Compare race: Adam lr 0.01, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0), race_lr=0.01)  # alpha = r: scaling 1
watch = lora.watch  # the layer is LoRA's; only the optimizer differs


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """Only the learning rates differ from LoRA: the same tensors are kept."""
    return lora.activation_profile(shape, cfg, targets)
