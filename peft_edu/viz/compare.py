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


PARETO_AXES = {  # axis key -> (label, log scale?)
    "trainable": ("trainable parameters without the head (log scale)", True),
    "memory": ("memory the run held: weights, gradients, optimizer state, saved activations (kB)", False),
    "time": ("CPU seconds of the training steps (one thread)", False),
    "forgetting": ("forgetting: pre-training (task A) held-out loss, after − before (nats)", False),
}


def pareto_figure(points: dict[str, tuple[float, float]], front: list[str], axis: str, title: str) -> go.Figure:
    """Test accuracy against one cost per method (``points``: key -> (cost, accuracy)); the
    Pareto front (``front``: no other method is cheaper and at least as accurate) joined by a line
    and named, the others as markers with their name on hover."""
    label, log = PARETO_AXES[axis]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[points[k][0] for k in front], y=[points[k][1] for k in front], mode="lines+markers+text",
        name="Pareto front", text=[METHODS[k].name for k in front], cliponaxis=False,
        textposition=["top right" if i == 0 else "top left" for i in range(len(front))],  # the first at the left edge
        line=dict(color="#444", width=1.5, dash="dot"), marker=dict(size=1), hoverinfo="skip"))
    for family in dict.fromkeys(METHODS[k].family for k in points):
        keys = [k for k in points if METHODS[k].family == family]
        fig.add_trace(go.Scatter(
            x=[points[k][0] for k in keys], y=[points[k][1] for k in keys], mode="markers", name=family,
            marker=dict(size=[14 if k in front else 9 for k in keys], color=FAMILY_COLORS[family],
                        line=dict(color="#222", width=[2 if k in front else 0 for k in keys])),
            text=[METHODS[k].name for k in keys],
            hovertemplate="%{text}: %{x:,.3~g} → %{y:.1%}<extra></extra>"))
    fig.update_xaxes(title=label, type="log" if log else "linear")
    fig.update_yaxes(title="test accuracy (task B)", tickformat=".0%")
    base_layout(fig, title, height=520)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return fig
