"""What the Semantic search page draws while a run trains: cosine histograms and a 2-D map.

A probe is a fixed handful of held-out questions and their passages. At a snapshot the
probe's pairs give the positive cosines (each question with its own passage) and negative
cosines (with the other probe passages); the histograms of the two separate as training
goes. The 2-D map projects the same embeddings on two axes fixed once from the base model
(principal components of its probe embeddings), so the points move, not the axes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

N_PROBE = 40  # held-out pairs in the probe: cheap to embed at every snapshot
N_MAP = 12  # of them, pairs drawn on the 2-D map (more would be an unreadable cloud)


@dataclass(frozen=True)
class Snapshot:
    """The probe at one step (plain floats, so a page can draw it from any thread's record)."""

    step: int
    positive: tuple[float, ...]  # cos(q_i, p_i) of every probe pair
    negative: tuple[float, ...]  # cos(q_i, p_j), i != j
    query_xy: tuple[tuple[float, float], ...]  # 2-D position of the first N_MAP probe questions
    passage_xy: tuple[tuple[float, float], ...]  # ... and of their passages


@dataclass(frozen=True)
class Axes:
    """A fixed 2-D projection: x -> (x - mean) @ components.T."""

    mean: torch.Tensor  # (d,)
    components: torch.Tensor  # (2, d)

    def project(self, x: torch.Tensor) -> list[tuple[float, float]]:
        xy = (x - self.mean) @ self.components.T  # (n, 2)
        return [(float(a), float(b)) for a, b in xy]


def fit_axes(embeddings: torch.Tensor) -> Axes:
    """The two principal components (PCA via SVD) of ``embeddings`` (n, d)."""
    mean = embeddings.mean(dim=0)
    _, _, v = torch.linalg.svd(embeddings - mean, full_matrices=False)
    return Axes(mean, v[:2])


def snapshot(step: int, queries: torch.Tensor, passages: torch.Tensor, axes: Axes) -> Snapshot:
    """Cosines and 2-D positions of the probe pairs ``queries[i]``, ``passages[i]`` (unit rows)."""
    cos = queries @ passages.T  # (n, n)
    off = ~torch.eye(cos.shape[0], dtype=torch.bool)
    return Snapshot(step, tuple(cos.diagonal().tolist()), tuple(cos[off].tolist()),
                    tuple(axes.project(queries[:N_MAP])), tuple(axes.project(passages[:N_MAP])))
