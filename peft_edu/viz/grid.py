"""Lay out a row of matrices so that every number is a square of the same size.

Plotly sizes subplots in fractions of the plot area; this module turns "one cell = c pixels"
into those fractions for a nominal plot width, so a 16×4 B and a 4×24 A are drawn with the
same squares (their true shapes side by side). Axes keep ``scaleanchor`` as a guard: on a
narrower screen every matrix shrinks by the same factor.
"""
from __future__ import annotations

from dataclasses import dataclass

CHAR_PX = 7.4  # width of one character of a 13 px bold subplot title
AXIS_PX = 34  # room left of each matrix for its rotated row label
GAP_PX = 14  # minimum space between two slots


@dataclass(frozen=True)
class RowLayout:
    """Where each matrix goes, in fractions of the plot width and of the row's height."""

    cell: float  # pixels per number (one square)
    height: float  # pixels of the row (the tallest matrix)
    x: list[tuple[float, float]]  # x-domain of each matrix, fraction of the plot width
    y: list[tuple[float, float]]  # y-domain of each matrix inside the row (top-aligned), 0..1
    centers: list[float]  # x of each slot's centre (for titles), fraction of the plot width


def title_px(title: str) -> float:
    """Estimated width of a subplot title: its longest line (tags and entities stripped)."""
    import re

    lines = re.sub(r"<[^>]+>", "", title.replace("<br>", "\n")).split("\n")
    return CHAR_PX * max(len(line) for line in lines) + 8


def matrix_row(shapes: list[tuple[int, int]], titles: list[str], width: float = 1150.0,
               max_cell: float = 20.0, max_height: float = 330.0, min_height: float = 90.0) -> RowLayout:
    """Cell size and domains for matrices of ``shapes`` (rows, cols) in a row ``width`` px wide."""
    if not shapes:
        raise ValueError("matrix_row needs at least one matrix")
    label_px = [title_px(t) for t in titles]

    def slots_at(cell: float) -> list[float]:
        return [max(c * cell + AXIS_PX, lp) + GAP_PX for (_, c), lp in zip(shapes, label_px)]

    lo, hi = 0.5, min(max_cell, max_height / max(r for r, _ in shapes))
    for _ in range(30):  # the largest cell whose slots still fit the width (bisection)
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(slots_at(mid)) <= width else (lo, mid)
    cell = lo if sum(slots_at(hi)) > width else hi
    slots = slots_at(cell)
    spare = max(width - sum(slots), 0.0) / len(slots)  # spread what is left evenly
    scale = min(1.0, width / sum(slots))  # titles alone too wide: squeeze (rare)
    height = max(max(r for r, _ in shapes) * cell, min_height)
    x, y, centers, left = [], [], [], 0.0
    for (r, c), slot in zip(shapes, slots):
        slot = (slot + spare) * scale
        mid = left + AXIS_PX * scale / 2 + slot / 2
        half = c * cell * scale / 2
        x.append(((mid - half) / width, (mid + half) / width))
        y.append((1.0 - r * cell * scale / height, 1.0))
        centers.append(mid / width)
        left += slot
    return RowLayout(cell, height, x, y, centers)
