"""Shared colours and number formats for every figure."""
from __future__ import annotations

import plotly.graph_objects as go

FROZEN = "#5b7fa6"  # frozen weights: grey-blue
TRAINABLE = "#e8703a"  # trainable tensors: warm orange
FROZEN_SCALE = "Blues"  # heat-map scale for frozen matrices
TRAINABLE_SCALE = "Oranges"  # sequential scale for trainable (non-negative) values
DIVERGING_WARM = "RdBu_r"  # signed values of trainable matrices, 0 in the middle
FAMILY_COLORS = {
    "baseline": "#7f7f7f",
    "low-rank": TRAINABLE,
    "quantized": "#b5489b",
    "soft prompt": "#2a9d8f",
    "additive": "#c9a227",
    "scaling": "#6a4c93",
}


def fmt_int(n: int | float) -> str:
    """12345678 -> '12,345,678'."""
    return f"{int(round(n)):,}"


def fmt_bytes(n_bytes: float) -> str:
    """Human-readable decimal units: 1.5e9 -> '1.50 GB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n_bytes) >= size:
            return f"{n_bytes / size:,.2f} {unit}"
    return f"{n_bytes:,.0f} B"


def base_layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    """Apply the app's common layout: title, white template, compact margins."""
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        margin=dict(l=60, r=20, t=60, b=50),
        font=dict(size=13),
    )
    return fig
