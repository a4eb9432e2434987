"""Full fine-tuning: the baseline every PEFT method is measured against.

    W <- W - eta · grad_W L        for every weight W of the model

Every weight trains (BERT, Devlin et al., 2018, arXiv 1810.04805, fine-tunes all
parameters end to end), so one (d_out, d_in) layer has d_out · d_in trainable weights
(its bias adds d_out more; the table on the pages counts weights, like the papers do).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

USES_TARGETS = False  # nothing is wrapped: the whole model trains


@dataclass(frozen=True)
class Config:
    """Full fine-tuning has no knobs of its own."""


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return d_out * d_in  # every entry of W


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Unfreeze everything: apply() froze the base, full fine-tuning trains all of it."""
    model.requires_grad_(True)
