"""One lab run's own memory, split as the calculator splits it (not the whole server process).

On a CPU the process's resident memory holds every other session, cached model and earlier run
too, and only grows with run order; a run's own share is what its tensors hold:

- ``weights``: every parameter and buffer of the run's model copy (frozen ones too);
- ``gradients``: the ``.grad`` of every trainable parameter;
- ``optimizer``: the optimizer's state tensors (AdamW: two moments and a step count each);
- ``activations``: the peak over the run's steps of what autograd saved for the backward pass
  (each storage once, parameters excluded), measured with ``torch.autograd.graph.saved_tensors_hooks``;
- ``rss_growth``: the process's resident memory at the run's peak minus at its start (psutil) —
  shown beside the split, since allocator caches and other threads land in it too.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class RunMemory:
    weights: int  # bytes
    gradients: int
    optimizer: int
    activations: int
    rss_growth: int = 0  # bytes; 0 when not measured (GPU runs: see peak_memory_bytes)

    @property
    def total(self) -> int:
        """The run's own tensors at their peak: weights + gradients + optimizer state + activations."""
        return self.weights + self.gradients + self.optimizer + self.activations

    def as_dict(self) -> dict[str, int]:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "activations": self.activations, "rss_growth": self.rss_growth}


def _bytes(tensors) -> int:
    unique = {id(t): t for t in tensors if t is not None}
    return sum(t.numel() * t.element_size() for t in unique.values())


def state_split(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, int, int]:
    """(weights, gradients, optimizer state) bytes of ``model`` and ``optimizer`` now."""
    weights = _bytes([*model.parameters(), *model.buffers()])
    gradients = _bytes([p.grad for p in model.parameters()])
    state = _bytes([v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)])
    return weights, gradients, state


class SavedTensorMeter:
    """Peak bytes autograd saves for backward in the steps run under ``measure(model)``."""

    def __init__(self) -> None:
        self.peak = 0

    @contextlib.contextmanager
    def measure(self, model: nn.Module):
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor):
            storage = t.untyped_storage()
            if storage.data_ptr() not in params:
                seen[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield
        self.peak = max(self.peak, sum(seen.values()))


def rss_bytes() -> int:
    """The process's resident memory now (psutil)."""
    import psutil

    return psutil.Process().memory_info().rss
