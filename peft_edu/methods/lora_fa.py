"""LoRA-FA: Memory-efficient Low-rank Adaptation (Zhang et al., 2023, arXiv 2308.03303).

    h = W0 x + (alpha / r) · B A x,     A frozen at its random init, only B trains

With A frozen, B's gradient needs only the r-dimensional A x, not the d_in-dimensional
input x, so the backward pass keeps far less activation memory (§3). The layer is
LoRA's; the recipe is one line: A.requires_grad = False.
Trainable per layer: r · d_out.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, lora
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
PEFT_NAMES = lora.PEFT_NAMES  # saved as plain LoRA (A is saved too: it is part of ΔW)
peft_config = lora.peft_config  # a LoraConfig: peft reads the file back as plain LoRA


@dataclass(frozen=True)
class Config(lora.Config):
    """LoRA's knobs (r, alpha, dropout, use_rslora); nothing else changes."""


# A fixed random A moves the model more slowly than LoRA: a 1.5× learning rate makes up for it.
# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 90 % at step 70,
# 97.9 % at 90 and 100.
# Measured at stop 26 (`train(defaults(...))`, seeds 0-2, model dropout off, load 1.3-2.3):
# 80 steps reach 90 % at step 50, 95.8-99.2 % at the end, 14.6-15.1 s wall; 90 steps had taken 15.2 s in
# benchmarks/bench_lab.py --all.
LAB = LabDefaults(lr=3e-3, steps=80, config=Config(r=8, alpha=16.0))


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * d_out  # B only: (d_out, r)


def inject(model: nn.Module, cfg: Config, arch) -> None:
    lora.inject(model, cfg, arch)
    for layer in model.modules():
        if isinstance(layer, LoRALinear):
            layer.A.requires_grad_(False)  # A stays a random projection (§3)


# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0), race_lr=0.1)  # alpha = r: scaling 1


def watch(model: nn.Module) -> list:
    """LoRA's tensors, with A drawn frozen: it keeps its random init."""
    return [dataclasses.replace(v, title="A (random, fixed)", role="frozen") if v.name == "A" else v
            for v in lora.watch(model)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """A is frozen, so the wrapped layer's input x is not kept (the memory LoRA-FA
    saves); B's gradient still needs A·x, r values per token."""
    return wrapping_profile(shape, targets, keeps_input=False, per_layer=cfg.r)
