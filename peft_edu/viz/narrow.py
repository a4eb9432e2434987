"""Phone layouts of the side-by-side figures: a row of N subplots turned into a column of N.

A figure with panels side by side gives each panel a third or half of a 400 px screen: axis titles
collide with the next panel and subplot titles run into each other. ``stacked`` returns the same
figure (same traces, axes, titles, annotations) with every panel at full width, one under the
other. ``ui.charts.chart(fig, key, phone=...)`` sends both and the browser's width picks one.

Only positions change: x domains become [0, 1], y domains one band each from the top, and what
is placed in paper coordinates inside a panel (subplot titles, notes, colour bars) moves with
its panel. Data coordinates are untouched, so the numbers are the figure's own.
"""
from __future__ import annotations

import re

import plotly.graph_objects as go

PANEL_PX = 260  # height of one stacked panel's plot area
GAP_PX = 120  # between two panels: the upper one's x ticks and axis title, the lower one's subplot title
LEGEND_PX = 90  # under the last panel's axis title, for a legend moved below the plot


def _axis_name(ref: str, letter: str) -> str:
    """'x2' -> 'xaxis2', 'y' -> 'yaxis'."""
    return f"{letter}axis{ref[1:]}"


def _panels(layout: dict) -> list[tuple[str, str, tuple[float, float]]]:
    """(x axis key, its y axis key, its x domain) of every panel that has its own x domain, left to right."""
    found = []
    for key, axis in layout.items():
        if re.fullmatch(r"xaxis\d*", key) and isinstance(axis, dict):
            anchor = axis.get("anchor", "y" + key[5:])
            dom = tuple(axis.get("domain", (0.0, 1.0)))
            found.append((key, _axis_name(anchor, "y"), dom))
    return sorted(found, key=lambda p: p[2][0])


def _panel_of(x: float, domains: list[tuple[float, float]]) -> int | None:
    for i, (a, b) in enumerate(domains):
        if a - 0.03 <= x <= b + 0.03:
            return i
    return None


def stacked(fig: go.Figure, panel_px: float = PANEL_PX, gap_px: float = GAP_PX) -> go.Figure:
    """``fig`` (a ``make_subplots`` figure with one row of panels) with its panels in one column."""
    spec = fig.to_dict()
    layout = spec["layout"]
    panels = _panels(layout)
    if len(panels) < 2:
        return go.Figure(spec)
    n = len(panels)
    height = float(layout.get("height") or 450)
    margin = dict(layout.get("margin") or {})
    top, bottom = float(margin.get("t", 100)), float(margin.get("b", 80))
    old_plot = max(height - top - bottom, 1.0)
    plot = n * panel_px + (n - 1) * gap_px
    bands = [(1 - (i * (panel_px + gap_px) + panel_px) / plot, 1 - i * (panel_px + gap_px) / plot) for i in range(n)]
    domains = [p[2] for p in panels]

    def place(i: int, x: float, y: float) -> tuple[float, float]:
        (a, b), (lo, hi) = domains[i], bands[i]
        return (x - a) / (b - a), lo + y * (hi - lo)

    for i, (xkey, ykey, _) in enumerate(panels):
        layout[xkey]["domain"] = [0.0, 1.0]
        y = layout.setdefault(ykey, {})
        c, d = y.get("domain", (0.0, 1.0))
        lo, hi = bands[i]
        y["domain"] = [lo + c * (hi - lo), lo + d * (hi - lo)]
    for note in [*layout.get("annotations", ()), *layout.get("shapes", ())]:
        if note.get("xref", "x") != "paper" or note.get("yref", "y") != "paper" or "x" not in note:
            continue
        i = _panel_of(float(note["x"]), domains)
        if i is not None:
            note["x"], note["y"] = place(i, float(note["x"]), float(note.get("y", 0.5)))
    for trace in spec["data"]:  # colour bars sit at their panel's right edge, in paper coordinates
        bar = trace.get("colorbar") or (trace.get("marker") or {}).get("colorbar")
        xref = trace.get("xaxis", "x")
        i = next((k for k, p in enumerate(panels) if p[0] == _axis_name(xref, "x")), None)
        if bar is not None and i is not None:
            bar["x"], bar["y"] = place(i, float(bar.get("x", domains[i][1] + 0.02)), float(bar.get("y", 0.5)))
            bar["len"] = float(bar.get("len", 1.0)) * (bands[i][1] - bands[i][0])
    legend = layout.setdefault("legend", {})
    if legend.get("orientation") == "h" and float(legend.get("y", 1.02)) < 0:  # below: same pixels under the plot
        legend["y"] = float(legend["y"]) * old_plot / plot
    else:  # beside or above the plot: below it, where a phone has room
        legend.update(orientation="h", x=0.0, xanchor="left", y=-LEGEND_PX / plot, yanchor="top")
        bottom += LEGEND_PX
    margin["b"] = bottom
    layout["margin"] = margin
    layout["height"] = int(top + plot + bottom)
    title = layout.get("title")
    if isinstance(title, dict) and title.get("yref") == "container" and "y" in title:  # same pixels from the top
        title["y"] = 1 - (1 - float(title["y"])) * height / layout["height"]
    return go.Figure(spec)
