"""Figures of the Compare page: every method's loss on one task, and what each trains.

Colours by method family (``style.FAMILY_COLORS``), a dash pattern per member of a family,
so twelve curves stay apart.
"""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.registry import METHODS
from peft_edu.viz.style import FAMILY_COLORS, base_layout, fmt_int, n_lines, wrap

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


AXIS_CHARS = 44  # characters per line of an x-axis title (13 px): what a 400 px screen's plot holds
AXIS_LINE_PX = 18  # height of one more line of it

PARETO_AXES = {  # axis key -> (label, log scale?)
    "trainable": ("trainable parameters without the head (log scale)", True),
    "memory": ("memory the run held: weights, gradients, optimizer state, saved activations (kB)", False),
    "time": ("CPU seconds of the training steps (one thread)", False),
    "forgetting": ("forgetting: pre-training (task A) held-out loss, after − before (nats)", False),
}


def _accuracy_axis(accuracies: list[float]) -> dict:
    """Tick format and range of an accuracy axis: whole percents unless the points lie within ten
    points of each other (then 50% and 51% would both read "51%"), and room above and below the
    points for their names."""
    if not accuracies:
        return {"tickformat": ".0%"}
    low, high = min(accuracies), max(accuracies)
    pad = max(0.01, 0.12 * (high - low))
    return {"tickformat": ".0%" if high - low >= 0.1 else ".1%", "range": [low - pad, high + pad]}


def pareto_figure(points: dict[str, tuple[float, float]], front: list[str], axis: str, title: str, *,
                  names: dict[str, str] | None = None, families: dict[str, str] | None = None,
                  axes: dict[str, tuple[str, bool]] = PARETO_AXES,
                  y_title: str = "test accuracy (task B)") -> go.Figure:
    """Test accuracy against one cost per point (``points``: key -> (cost, accuracy)); the
    Pareto front (``front``: no other point is cheaper and at least as accurate) joined by a line
    and named, the others as markers with their name on hover.

    Keys are method keys by default (the Compare race); the lab's race passes its run ids with
    ``names`` and ``families`` (colours) of its own, and its own ``axes`` (key -> (title, log?))."""
    names = names or {k: METHODS[k].name for k in points}
    families = families or {k: METHODS[k].family for k in points}
    label, log = axes[axis]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[points[k][0] for k in front], y=[points[k][1] for k in front], mode="lines+markers+text",
        name="Pareto front", text=[names[k] for k in front], cliponaxis=False,
        textposition=["top right" if i == 0 else "top left" for i in range(len(front))],  # the first at the left edge
        line=dict(color="#444", width=1.5, dash="dot"), marker=dict(size=1), hoverinfo="skip"))
    for family in dict.fromkeys(families[k] for k in points):
        keys = [k for k in points if families[k] == family]
        fig.add_trace(go.Scatter(
            x=[points[k][0] for k in keys], y=[points[k][1] for k in keys], mode="markers", name=family,
            marker=dict(size=[14 if k in front else 9 for k in keys], color=FAMILY_COLORS[family],
                        line=dict(color="#222", width=[2 if k in front else 0 for k in keys])),
            text=[names[k] for k in keys],
            hovertemplate="%{text}: %{x:,.3~g} → %{y:.1%}<extra></extra>"))
    label = wrap(label, AXIS_CHARS)  # plotly never wraps: a long axis title would run off a phone
    fig.update_xaxes(title=label, type="log" if log else "linear")
    fig.update_yaxes(title=y_title, **_accuracy_axis([a for _, a in points.values()]))
    base_layout(fig, title, height=520 + AXIS_LINE_PX * (n_lines(label) - 1))
    fig.update_layout(legend=dict(orientation="h", y=-0.25 - 0.05 * (n_lines(label) - 1)))  # below the title
    return fig
