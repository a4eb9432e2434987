"""LoRA's lessons, from real runs on the toy task.

1. Rank: the LoRA update ΔW = (α/r)·B·A has at most r non-zero singular values, while
   full fine-tuning's ΔW of the same layer uses all of them (LoRA paper §7 studies the
   rank of ΔW).
2. Why LoRA is a fine-tuning method, not a pre-training one: its own lesson,
   ``peft_edu.lessons.pretraining`` (a tiny GPT pre-trained in full, with LoRA, ReLoRA and GaLore).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peft_edu.lessons.lowrank import matrix_run
from peft_edu.lessons.toy import ToyTask, shift_matrix

RANK_TOL = 1e-4  # a singular value below RANK_TOL × the largest counts as zero (float32 noise)


@dataclass(frozen=True)
class Spectra:
    """Singular values (largest first) of three d_out×d_in matrices of the toy layer."""

    r: int  # LoRA rank of the run
    target: np.ndarray  # of ΔW*, the change the task asks for
    full: np.ndarray  # of full fine-tuning's learned ΔW
    lora: np.ndarray  # of LoRA's learned ΔW = delta_weight()
    full_loss: float  # final training loss of each run
    lora_loss: float

    @property
    def lora_rank(self) -> int:
        return numerical_rank(self.lora)

    @property
    def full_rank(self) -> int:
        return numerical_rank(self.full)


def numerical_rank(s: np.ndarray) -> int:
    """Singular values above RANK_TOL × the largest."""
    return int((s > RANK_TOL * s.max()).sum()) if s.max() > 0 else 0


def singular_values(a: np.ndarray) -> np.ndarray:
    return np.linalg.svd(a.astype(np.float64), compute_uv=False)


def spectra(r: int = 4, task: ToyTask = ToyTask(), steps: int = 200) -> Spectra:
    """Train full fine-tuning and LoRA(r) on the toy task; SVD of each final ΔW."""
    full = matrix_run("full", None, task, steps=steps, n_frames=2)
    lora = matrix_run("lora", r, task, steps=steps, n_frames=2)
    return Spectra(
        r=r,
        target=singular_values(shift_matrix(task).numpy()),
        full=singular_values(full.last("dW")),
        lora=singular_values(lora.last("dW")),
        full_loss=full.loss[-1],
        lora_loss=lora.loss[-1],
    )
