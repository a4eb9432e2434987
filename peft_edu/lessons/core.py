"""What a lesson run records: the method's tensors at a few steps and the loss at every step.

A ``Run`` is plain data (numpy arrays, floats), so it pickles into Streamlit's cache and
the figure builders in ``peft_edu.viz`` never touch torch.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

ROLES = ("frozen", "trainable", "delta", "moving")  # how a tensor is drawn (see TensorView)


@dataclass(frozen=True)
class TensorView:
    """One tensor of the animation and how to draw it."""

    name: str  # key in every snapshot, e.g. "A"
    title: str  # shown above the matrix, e.g. "A  (trainable)"
    role: str  # "frozen" (grey/blue, never changes), "trainable" (warm, has a gradient),
    # "delta" (warm, derived from trainable tensors, e.g. ΔW), "moving" (changes without a gradient)
    rows: str  # what the rows index, e.g. "d_out"
    cols: str  # what the columns index, e.g. "r"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")


@dataclass
class Run:
    """A recorded training run: snapshots of tensors (2-D arrays) and the loss per step."""

    method: str  # registry key
    tensors: tuple[TensorView, ...]  # what is drawn, left to right
    steps: list[int] = field(default_factory=list)  # optimizer step of each snapshot
    frames: list[dict[str, np.ndarray]] = field(default_factory=list)  # one dict per snapshot
    loss: list[float] = field(default_factory=list)  # loss before step t, t = 0..n_steps
    caption: str = ""  # one sentence on the toy task
    loss_label: str = "loss (mean squared error)"  # y-axis title of the loss curve
    reference_loss: list[float] = field(default_factory=list)  # a comparison run's loss (same steps), or none
    reference_label: str = ""  # what that comparison run trained

    def snapshot(self, step: int, tensors: dict[str, torch.Tensor]) -> None:
        """Store detached float copies, vectors as columns, so every tensor is 2-D."""
        frame = {}
        for name, t in tensors.items():
            a = t.detach().float().cpu().numpy().copy()
            frame[name] = a.reshape(-1, 1) if a.ndim == 1 else a
        self.steps.append(step)
        self.frames.append(frame)

    def first(self, name: str) -> np.ndarray:
        return self.frames[0][name]

    def last(self, name: str) -> np.ndarray:
        return self.frames[-1][name]


def snapshot_steps(n_steps: int, n_frames: int) -> set[int]:
    """Evenly spread steps 0..n_steps (both ends included) at which to snapshot."""
    return {int(round(s)) for s in np.linspace(0, n_steps, n_frames)}


@contextmanager
def one_thread():
    """Run tiny tensors on one CPU thread: on a busy 2-core machine, OpenMP threads that wait
    on each other made a lesson 50× slower. The setting is per OS thread, so this leaves
    other threads (other sessions, training jobs) alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
