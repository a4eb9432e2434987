"""Lessons of the cheapest methods (BitFit, arXiv 2106.10199; LN tuning, arXiv 2312.11420)
and of PiSSA's start (arXiv 2404.02948).

- ``baseline_runs()``: real live-lab runs (all-MiniLM-L6-v2 on the shipped "Did City win?"
  data, each method's LAB defaults) as recorded by ``scripts/measure_baselines.py`` in
  ``assets/data/baseline_runs.json``: trainable share against test accuracy. A lab run takes
  minutes on a shared 2-core CPU, too long for a page visit, so the page reads the record;
  the script reruns them (same code as the lab).
- ``pissa_start()``: PiSSA and LoRA on the toy layer with one seed, rank and learning rate:
  the adapter's s·B·A at step 0 (LoRA: zero; PiSSA: W's principal part) and the loss.

Every result is plain data so Streamlit can cache it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peft_edu.lab.run_config import CHECKPOINT_DROPOUT
from peft_edu.lessons.lowrank import matrix_run

RUNS_FILE = Path(__file__).resolve().parents[2] / "assets" / "data" / "baseline_runs.json"


@dataclass(frozen=True)
class BaselineRun:
    """One recorded live-lab run."""

    method: str  # registry key, or "head_only"
    trainable: int  # trainable parameters without the classifier head
    total: int  # all parameters of the model without the head
    accuracy: float  # test accuracy at the end, in [0, 1]
    lr: float  # the method's learning rate
    steps: int  # optimizer steps, batch 16
    seconds: float  # wall time of the run (shared machine: see load)
    load: float  # 1-minute load average when the run ended
    model_dropout: float = CHECKPOINT_DROPOUT  # the model's own dropout in the run (recorded since stop 25)

    @property
    def share(self) -> float:
        """Trainable share in percent."""
        return 100.0 * self.trainable / self.total


def baseline_runs(path: Path = RUNS_FILE) -> list[BaselineRun]:
    """The recorded runs, in the file's order."""
    rows = json.loads(path.read_text(encoding="utf-8"))["runs"]
    return [BaselineRun(**row) for row in rows]


# ---------------------------------------------------------------- PiSSA
@dataclass(frozen=True)
class PissaStart:
    """PiSSA vs LoRA on the toy layer: the adapter at step 0 and the loss per step."""

    r: int
    lr: float
    lora_dW0: np.ndarray  # (d_out, d_in) LoRA's s·B·A at step 0: zero
    pissa_dW0: np.ndarray  # PiSSA's s·B·A at step 0: the top-r part of W0
    pissa_change0: float  # ‖s(BA − B0A0)‖ at step 0: the forward pass equals the base
    lora_loss: list[float]
    pissa_loss: list[float]
    ahead_until: int  # last step at which PiSSA's loss is still below LoRA's (0: never)


def pissa_start(r: int = 4, lr: float = 0.005, steps: int = 40) -> PissaStart:
    """Both methods from the same toy base, same r, alpha = r (s = 1) and learning rate."""
    lora, pissa = (matrix_run(m, r, lr=lr, steps=steps, n_frames=2) for m in ("lora", "pissa"))
    ahead = 0
    for t in range(1, len(pissa.loss)):  # the first stretch where PiSSA leads
        if pissa.loss[t] < lora.loss[t]:
            ahead = t
        else:
            break
    return PissaStart(r, lr, lora.first("dW"), pissa.first("dW"), float(np.linalg.norm(pissa.first("change"))),
                      lora.loss, pissa.loss, ahead)
