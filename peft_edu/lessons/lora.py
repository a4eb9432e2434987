"""LoRA's two lessons, each from real runs on the toy task.

1. Rank: the LoRA update ΔW = (α/r)·B·A has at most r non-zero singular values, while
   full fine-tuning's ΔW of the same layer uses all of them (LoRA paper §7 studies the
   rank of ΔW).
2. Why LoRA is a fine-tuning method, not a pre-training one: trained from a random start
   (nothing pretrained to adapt), a rank-r update cannot reach what training every weight
   reaches — the capacity gap shrinks as r grows (ReLoRA, arXiv 2307.05695, §1 makes the
   same point).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import peft_edu
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.lowrank import matrix_run
from peft_edu.lessons.toy import ToyTask, make_toy, shift_matrix
from peft_edu.lessons.train import adam, fit, mse_on
from peft_edu.models import toy_mlp

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


@dataclass(frozen=True)
class FromScratch:
    """Loss curves of training a randomly initialised MLP in full and with LoRA at each rank."""

    ranks: tuple[int, ...]  # LoRA ranks tried
    full: list[float]  # loss per step, every weight trained
    lora: dict[int, list[float]]  # rank -> loss per step, only A, B (all layers) trained
    trainable_full: int  # parameters trained in each run
    trainable_lora: dict[int, int]


def _scratch_problem(width: int, seed: int):
    """A random teacher MLP to imitate, and a fresh randomly initialised student."""
    teacher = toy_mlp(16, width, width, 8, seed=seed + 100)
    with torch.no_grad():
        x = torch.randn(256, 16, generator=torch.Generator().manual_seed(seed))
        y = teacher(x) * 10.0  # scaled so the target is well above the student's start
    return x, y, toy_mlp(16, width, width, 8, seed=seed)


def from_scratch(ranks: tuple[int, ...] = (1, 2, 4, 8), width: int = 32, steps: int = 200,
                 lr: float = 0.01, seed: int = 0) -> FromScratch:
    """'Pre-train' a random MLP to imitate a random teacher: all weights vs LoRA on all layers."""
    with one_thread():
        x, y, student = _scratch_problem(width, seed)
        full = peft_edu.apply(student, "full")
        run = fit(Run("full", ()), full, mse_on(x, y), steps, adam(full, lr))
        curves, counts = {}, {}
        for r in ranks:
            model = peft_edu.apply(_scratch_problem(width, seed)[2], "lora", r=r, alpha=float(r),
                                   targets="all-linear", train_head=True)
            curves[r] = fit(Run("lora", ()), model, mse_on(x, y), steps, adam(model, lr)).loss
            counts[r] = peft_edu.trainable_parameters(model)
    return FromScratch(tuple(ranks), run.loss, curves, peft_edu.trainable_parameters(full), counts)
