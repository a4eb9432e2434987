"""The toy task of the matrix lessons: adapt a small "pretrained" MLP to a shifted target.

The base is ``peft_edu.models.toy_mlp(d_in, d_hidden, n_out)``: its first layer W0 is
d_hidden × d_in, small enough to draw every number. The target is the same network with
W0 moved by a full-rank change ΔW* whose singular values decay geometrically — a stand-in
for "the task needs a new weight" where most of the change lies in a few directions, as
the LoRA paper argues (§4.1, §7). The learner's model sees inputs x and the target's
outputs y and minimises the mean squared error.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.models import toy_mlp

ADAPTED = "layers.0"  # the layer every matrix lesson adapts and draws


@dataclass(frozen=True)
class ToyTask:
    """Sizes and seeds of the toy regression task."""

    d_in: int = 24  # input width = columns of W0
    d_hidden: int = 16  # hidden width = rows of W0 (d_out of the adapted layer)
    n_out: int = 16  # outputs of the head; wide, so W0's gradient is not forced to low rank
    n_samples: int = 256  # one fixed full batch: the lesson is about the method, not the data
    shift_scale: float = 1.0  # largest singular value of the target change ΔW*
    shift_decay: float = 0.6  # ratio between consecutive singular values of ΔW*
    seed: int = 0  # seeds the base model, ΔW* and the inputs

    def __post_init__(self) -> None:
        for name in ("d_in", "d_hidden", "n_out", "n_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.shift_decay <= 1:
            raise ValueError(f"shift_decay must be in (0, 1], got {self.shift_decay}")


@dataclass
class ToyData:
    """The base model (never trained: copy it), the target change and the data."""

    base: nn.Module  # "pretrained" toy MLP
    target_shift: torch.Tensor  # ΔW*, (d_hidden, d_in)
    x: torch.Tensor  # (n_samples, d_in)
    y: torch.Tensor  # (n_samples, n_out): the shifted network's outputs


def shift_matrix(task: ToyTask) -> torch.Tensor:
    """ΔW* = U diag(s) Vᵀ with random orthonormal U, V and s_i = scale · decay^i."""
    gen = torch.Generator().manual_seed(task.seed + 1)
    k = min(task.d_hidden, task.d_in)
    U, _ = torch.linalg.qr(torch.randn(task.d_hidden, k, generator=gen))  # (d_hidden, k)
    V, _ = torch.linalg.qr(torch.randn(task.d_in, k, generator=gen))  # (d_in, k)
    s = task.shift_scale * task.shift_decay ** torch.arange(k, dtype=torch.float32)
    return U @ torch.diag(s) @ V.T  # (d_hidden, d_in)


def make_toy(task: ToyTask = ToyTask()) -> ToyData:
    """Build the base, the target network (base with W0 + ΔW*) and a fixed batch."""
    base = toy_mlp(task.d_in, task.d_hidden, task.n_out, seed=task.seed)
    shift = shift_matrix(task)
    target = copy.deepcopy(base)
    with torch.no_grad():
        target.get_submodule(ADAPTED).weight += shift
        x = torch.randn(task.n_samples, task.d_in, generator=torch.Generator().manual_seed(task.seed + 2))
        y = target(x)
    return ToyData(base, shift, x, y)


def fresh_copy(data: ToyData) -> nn.Module:
    """A trainable copy of the base: lessons never touch ``data.base`` itself."""
    return copy.deepcopy(data.base)
