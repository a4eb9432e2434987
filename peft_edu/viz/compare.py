"""Figures of the Compare page: every method's loss on one task, and what each trains.

Colours by method family (``style.FAMILY_COLORS``), a dash pattern per member of a family,
so twelve curves stay apart.
"""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.registry import METHODS
from peft_edu.viz.style import FAMILY_COLORS, base_layout, fmt_int

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "5px,2px")


def _styles(keys) -> dict[str, dict]:
    seen: dict[str, int] = {}
    styles = {}
    for key in keys:
        family = METHODS[key].family
        i = seen.get(family, 0)
        seen[family] = i + 1
        styles[key] = dict(color=FAMILY_COLORS[family], dash=DASHES[i % len(DASHES)], width=2.5)
    return styles


def race_figure(losses: dict[str, list[float]], title: str, loss_label: str = "training loss (cross-entropy)"
                ) -> go.Figure:
    """Loss per step of every method, overlaid (log scale)."""
    fig = go.Figure()
    styles = _styles(losses)
    for key, loss in losses.items():
        spec = METHODS[key]
        fig.add_trace(go.Scatter(x=list(range(len(loss))), y=loss, mode="lines", name=spec.name,
                                 line=styles[key], legendgroup=spec.family,
                                 hovertemplate="step %{x}: %{y:.4f}<extra>" + spec.name + "</extra>"))
    fig.update_xaxes(title="optimizer step", tickformat=",d")
    fig.update_yaxes(title=f"{loss_label}, log scale", type="log", exponentformat="power")
    return base_layout(fig, title, height=540)


def trainable_figure(trainable: dict[str, int], total: int) -> go.Figure:
    """Trainable parameters of each method in the race (head excluded), log axis."""
    keys = sorted(trainable, key=trainable.get)
    fig = go.Figure(go.Bar(
        y=[METHODS[k].name for k in keys], x=[trainable[k] for k in keys], orientation="h",
        marker_color=[FAMILY_COLORS[METHODS[k].family] for k in keys],
        text=[f"{fmt_int(trainable[k])} ({100 * trainable[k] / total:.1f}%)" for k in keys], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:,} trainable<extra></extra>"))
    fig.update_xaxes(title=f"trainable parameters without the head (log scale; model: {fmt_int(total)})",
                     type="log")
    fig.update_yaxes(title="method")
    base_layout(fig, "What each method trains in that race", height=460)
    fig.update_layout(margin=dict(r=130))  # room for the label of the longest bar
    return fig
