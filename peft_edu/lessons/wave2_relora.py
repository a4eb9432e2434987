"""ReLoRA's lesson (arXiv 2307.05695): the total update reaching a rank above r after
several restarts.

``restart_run()`` adapts the query and value layers of the pretrained tiny BERT of
``peft_edu.lessons.transformer`` (2 blocks, width 16) to its task B twice, with the same
rank r and steps: once with ReLoRA (a restart every K steps) and once with plain LoRA. After
every ReLoRA restart it takes the singular values of the total change W − W0 of one layer;
LoRA's change s·B·A has at most r non-zero ones whatever the steps. It also keeps both loss
curves and ReLoRA's jagged learning-rate factor. A few seconds on one CPU thread; the result
is plain data (cacheable).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

import peft_edu
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.train import fit, method_adam, method_after_step
from peft_edu.lessons.transformer import TASK_B, ce_on, pretrained, task_batch
from peft_edu.methods import relora
from peft_edu.methods.layers import base_weight, short_name

WATCHED = "bert.encoder.layer.0.attention.self.query"  # (16, 16)
TOL = 1e-6  # a singular value below TOL · the largest one counts as zero


@dataclass(frozen=True)
class RestartRun:
    """ReLoRA against LoRA at the same rank: spectra of W − W0 and the losses."""

    layer: str  # "block 0 · attention.self.query"
    restart_steps: list[int]  # the steps after which ReLoRA restarted: K, 2K, ...
    spectra: list[np.ndarray]  # singular values of W − W0 (falling) after each restart
    ranks: list[int]  # numerical rank of W − W0 after each restart
    lora_spectrum: np.ndarray  # singular values of LoRA's s·B·A at the end
    lora_rank: int
    relora_loss: list[float]
    lora_loss: list[float]
    lr_factor: list[float]  # ReLoRA's learning-rate factor for each step 0..steps−1
    r: int
    K: int
    lr: float

    @property
    def steps(self) -> int:
        return len(self.relora_loss) - 1


def _label(name: str) -> str:
    block = re.search(r"\.(\d+)\.", name)
    return f"block {block.group(1)} · {short_name(name)}" if block else name


def _spectrum(M: torch.Tensor) -> tuple[np.ndarray, int]:
    s = np.linalg.svd(M.detach().double().numpy(), compute_uv=False)
    return s, int((s > TOL * max(s[0], 1e-300)).sum())


def restart_run(steps: int = 80, r: int = 2, K: int = 16, lr: float = 0.01) -> RestartRun:
    """ReLoRA (a restart every K steps) and LoRA, both rank r, query and value, ``steps`` steps."""
    with one_thread():
        options = dict(targets=["query", "value"], train_head=True, r=r, alpha=float(r))
        model = peft_edu.apply(pretrained(), "relora", reset_every=K, warmup=2, restart_warmup=2, **options)
        cfg = model.peft_edu_applied.config
        W = base_weight(model.get_submodule(WATCHED).base)
        W0 = W.detach().clone()
        optimizer = method_adam(model, lr)
        update = method_after_step(model, optimizer, steps)
        spectra, ranks, restarts = [], [], []

        def record(step: int) -> None:
            update(step)
            if step % K == 0:  # just restarted: the whole change sits in W now
                s, k = _spectrum(W - W0)
                spectra.append(s)
                ranks.append(k)
                restarts.append(step)

        relora_run = fit(Run("relora", ()), model, ce_on(*task_batch(TASK_B, seed=1)), steps, optimizer,
                         after_step=record)
        lora = peft_edu.apply(pretrained(), "lora", **options)
        lora_run = fit(Run("lora", ()), lora, ce_on(*task_batch(TASK_B, seed=1)), steps, method_adam(lora, lr))
        lora_s, lora_k = _spectrum(lora.get_submodule(WATCHED).delta_weight())
    return RestartRun(_label(WATCHED), restarts, spectra, ranks, lora_s, lora_k, relora_run.loss, lora_run.loss,
                      [relora.lr_schedule(t, steps, cfg) for t in range(steps)], r, K, lr)
