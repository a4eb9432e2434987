"""The home page's timeline of methods by year, built from the registry."""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.registry import METHODS
from peft_edu.viz.style import FAMILY_COLORS, base_layout


def methods_timeline() -> go.Figure:
    """One marker per method at its paper's year; methods of the same year stack up."""
    fig = go.Figure()
    stack: dict[int, int] = {}
    for family, color in FAMILY_COLORS.items():
        specs = [s for s in METHODS.values() if s.family == family]
        if not specs:
            continue
        xs, ys, labels, hovers = [], [], [], []
        for spec in specs:
            level = stack.get(spec.year, 0)
            stack[spec.year] = level + 1
            xs.append(spec.year)
            ys.append(level)
            labels.append(spec.name)
            hovers.append(f"<b>{spec.name}</b> ({spec.year})<br>{spec.paper}<br>arXiv {spec.arxiv}")
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="markers+text", name=family, text=labels,
                textposition="middle right", hovertext=hovers, hoverinfo="text",
                marker=dict(size=16, color=color, line=dict(width=1, color="white")),
            )
        )
    years = sorted({s.year for s in METHODS.values()})
    fig.update_xaxes(title="year of the paper", tickmode="array", tickvals=years,
                     range=[years[0] - 0.5, years[-1] + 1.2])
    fig.update_yaxes(visible=False, range=[-0.7, max(stack.values()) + 0.2])
    fig.update_layout(legend_title_text="family")
    return base_layout(fig, f"{len(METHODS)} ways to fine-tune, by year of publication", height=380)
