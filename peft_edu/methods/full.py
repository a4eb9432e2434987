"""Full fine-tuning: the baseline every PEFT method is measured against.

    W <- W - eta · grad_W L        for every weight W of the model

Every weight trains (BERT, Devlin et al., 2018, arXiv 1810.04805, fine-tunes all
parameters end to end), so one (d_out, d_in) layer has d_out · d_in trainable weights
(its bias adds d_out more; the table on the pages counts weights, like the papers do).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.sizing.profile import ActivationProfile, EVERY_INPUT, ModelShape

USES_TARGETS = False  # nothing is wrapped: the whole model trains


@dataclass(frozen=True)
class Config:
    """Full fine-tuning has no knobs of its own."""


# Small steps for every weight. scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): lr 1e-4 passed
# 90 % at step 30, 98.3 % at 40, 100 % at 80; a step costs ~2.2 LoRA steps, so 45 steps keep the
# default run under 15 s.
LAB = LabDefaults(lr=1e-4, steps=45)


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return d_out * d_in  # every entry of W


def model_params(arch, cfg: Config) -> int:
    """Every weight of the blocks' linear layers, L · Σ d_out · d_in (embeddings, norms, biases
    and the head train too: ``peft_edu.count`` counts those from the built model)."""
    return arch.n_layers * sum(d_out * d_in for _, d_out, d_in in arch.shapes)


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Unfreeze everything: apply() froze the base, full fine-tuning trains all of it."""
    model.requires_grad_(True)


# ---------------------------------------------------------------- the method page
def watch(model: nn.Module) -> list[Watched]:
    """The first linear layer's W (it trains) and how far it has moved."""
    layer = next(m for m in model.modules() if isinstance(m, nn.Linear))
    W0 = layer.weight.detach().clone()
    return [Watched("W", "W", "trainable", "d_out", "d_in", lambda: layer.weight),
            Watched("dW", "ΔW = W − W₀", "delta", "d_out", "d_in", lambda: layer.weight - W0)]


# ---------------------------------------------------------------- the calculator
TRAINS_BASE = True  # every base weight trains: none stays frozen (none can be stored in 4 bits)


def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """Every linear layer's weight trains, so every linear layer keeps its input."""
    return EVERY_INPUT


# Compare race: Adam lr 0.01, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults(race_lr=0.01)
