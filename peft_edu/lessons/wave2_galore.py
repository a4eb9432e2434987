"""GaLore's lesson (arXiv 2403.03507): the projector refreshed every T steps, and the
optimizer memory it saves.

``projector_run()`` trains every linear layer of the pretrained tiny BERT of
``peft_edu.lessons.transformer`` (2 blocks, width 16, d_ff 32) on its task B with GaLore
(``GaLoreAdamW``) and records, after every optimizer step, for one weight: how much of the
current gradient's energy the projector P captures (‖PᵀG‖² / ‖G‖²: it decays as the
gradient turns, and jumps back to 1 when P is recomputed) and the overlap of P with the one
of the step before (‖P_tᵀ P_{t−1}‖² / r: 1 between refreshes, lower at a refresh). It also
counts the optimizer's own state tensors against plain Adam's 2·m·n. A second or two on
one CPU thread; the result is plain data (cacheable).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

import peft_edu
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.train import fit, method_adam, method_after_step
from peft_edu.lessons.transformer import TASK_B, ce_on, pretrained, task_batch
from peft_edu.methods import galore
from peft_edu.methods.layers import base_weight, short_name

WATCHED = "bert.encoder.layer.0.intermediate.dense"  # (32, 16): m > n, so the right side is projected
BIG = (4096, 11008)  # a Llama-7B MLP weight (m < n), for the closed-form comparison


@dataclass(frozen=True)
class ProjectorRun:
    """One GaLore run: the projector of one weight step by step, and the optimizer's memory."""

    layer: str  # the watched weight, "block 0 · intermediate.dense"
    shape: tuple[int, int]  # its (m, n)
    side: str  # "left" or "right": which singular vectors project its gradient
    captured: list[float]  # ‖PᵀG‖² / ‖G‖² at each step 1..steps (the P used at that step)
    overlap: list[float]  # ‖P_tᵀ P_{t−1}‖² / r at each step 2..steps
    refreshes: list[int]  # steps (1-based) that computed a new P: 1, T + 1, 2T + 1, ...
    loss: list[float]  # task loss before each step, 0..steps
    moments: int  # values in Adam's two moments of every GaLore weight, measured
    projectors: int  # values of their projectors P, measured
    adam_moments: int  # what plain Adam would keep: 2·m·n summed over the same weights
    big_galore: int  # 2·r·n + m·r for BIG at rank ``big_r`` (closed form)
    big_adam: int  # 2·m·n for BIG
    big_r: int
    r: int
    T: int
    lr: float

    @property
    def steps(self) -> int:
        return len(self.loss) - 1


def _label(name: str) -> str:
    block = re.search(r"\.(\d+)\.", name)
    return f"block {block.group(1)} · {short_name(name)}" if block else name


def _energy(G: torch.Tensor, P: torch.Tensor, side: str) -> float:
    R = galore.project(G, P, side)
    return float(R.pow(2).sum() / G.pow(2).sum().clamp_min(1e-30))


def projector_run(steps: int = 60, r: int = 2, T: int = 15, lr: float = 0.03, big_r: int = 128) -> ProjectorRun:
    """GaLore on every linear layer of the tiny BERT, rank ``r``, a new P every ``T`` steps."""
    with one_thread():
        model = peft_edu.apply(pretrained(), "galore", targets="all-linear", train_head=True, r=r,
                               update_proj_gap=T)
        optimizer = method_adam(model, lr)
        W = base_weight(model.get_submodule(WATCHED).base)
        captured: list[float] = []
        overlap: list[float] = []
        refreshes: list[int] = []
        previous: list[torch.Tensor] = []
        update = method_after_step(model, optimizer, steps)

        def record(step: int) -> None:
            if update is not None:
                update(step)
            state = optimizer.state[W]
            P, side = state["P"], state["side"]
            captured.append(_energy(W.grad, P, side))  # the gradient of this step, the P it used
            if previous:
                overlap.append(float((P @ previous[-1].T if side == "right" else P.T @ previous[-1])
                                     .pow(2).sum()) / r)
                if not torch.equal(P, previous[-1]):
                    refreshes.append(step)
            else:
                refreshes.append(step)
            previous[:] = [P.clone()]

        run = fit(Run("galore", ()), model, ce_on(*task_batch(TASK_B, seed=1)), steps, optimizer, after_step=record)
        weights = [base_weight(m.base) for m in model.modules() if isinstance(m, galore.GaLoreLinear)]
        moments = sum(galore.state_numel(optimizer, w) for w in weights)
        projectors = sum(optimizer.state[w]["P"].numel() for w in weights)
        adam = sum(2 * w.numel() for w in weights)
        cfg = galore.Config(r=big_r)
    return ProjectorRun(_label(WATCHED), tuple(W.shape), optimizer.state[W]["side"], captured, overlap,
                        refreshes, run.loss, moments, projectors, adam,
                        galore.state_values(*BIG, cfg), 2 * BIG[0] * BIG[1], big_r, r, T, lr)
