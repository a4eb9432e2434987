"""Shared colours and number formats for every figure."""
from __future__ import annotations

import re

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


TITLE_CHARS = 40  # characters per line of a figure's title: plotly never wraps, and a phone is 400 px wide
LINE_PX = 22  # height of one title line (the title's font is ~17 px)
TITLE_TOP_PX = 28  # where the title hangs from: plotly puts the top of a multi-line title ~16 px above its y
_TAG = re.compile(r"<[^>]+>")


def visible_len(text: str) -> int:
    """Characters a reader sees: tags such as <b> or <span style=...> do not count."""
    return len(_TAG.sub("", text))


def wrap(text: str, chars: int) -> str:
    """``text`` broken with <br> at spaces (never inside a tag) into lines of at most ``chars``
    visible characters; its own <br> are kept. A single word longer than ``chars`` stays whole."""
    lines = []
    for part in text.split("<br>"):
        line = ""
        for word in re.split(r" (?![^<]*>)", part):
            if line and visible_len(line) + 1 + visible_len(word) > chars:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "<br>".join(lines)


def n_lines(text: str) -> int:
    return text.count("<br>") + 1


def base_layout(fig: go.Figure, title: str, height: int = 420, top: int = 0) -> go.Figure:
    """Apply the app's common layout: title (wrapped to fit a phone), white template, compact margins.

    The title hangs from the top of the figure; the top margin grows by one line per extra
    title line, plus ``top`` pixels (room for subplot titles, see ``fit_subplot_titles``)."""
    title = wrap(title, TITLE_CHARS)
    height = height + LINE_PX * (n_lines(title) - 1)
    fig.update_layout(
        title=dict(text=title, y=1 - TITLE_TOP_PX / height, yref="container", yanchor="top"),
        template="plotly_white",
        height=height,
        margin=dict(l=60, r=20, t=title_margin(title) + top, b=50),
        font=dict(size=13),
    )
    return fig


def title_margin(title: str) -> int:
    """The top margin that a (wrapped) title needs above the plot area."""
    return 60 + LINE_PX * (n_lines(title) - 1)


def fit_subplot_titles(fig: go.Figure, chars: int, size: int = 13) -> int:
    """Wrap the subplot titles of a ``make_subplots`` figure to ``chars`` characters a line (what
    one column holds on a 400 px screen) at ``size`` px; returns the extra top margin they need."""
    extra = 0
    for note in fig.layout.annotations:
        note.text = wrap(note.text, chars)
        note.font.size = size
        extra = max(extra, (n_lines(note.text) - 1) * (size + 8))
    return extra
