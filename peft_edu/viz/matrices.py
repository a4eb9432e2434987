"""The method pages' animation: a method's real tensors during a tiny training run.

One row of heat maps (each matrix at its true shape, one square per number) above a loss
curve; frames step through the recorded snapshots, with play/pause and a step slider.
Frozen tensors use a grey-to-blue scale, trainable ones a purple-to-orange scale with 0 in
white, so "what trains" is visible at a glance (DESIGN.md, visual language).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fmt_int

# Signed values: negative on the left end, 0 white in the middle, positive on the right end.
FROZEN_DIVERGING = [[0.0, "#7a7a7a"], [0.5, "#f7f7f7"], [1.0, "#2b5c8a"]]  # grey ↔ blue
TRAINABLE_DIVERGING = [[0.0, "#6a4c93"], [0.5, "#fbf7f2"], [1.0, TRAINABLE]]  # purple ↔ orange
MOVING_COLOR = "#b5489b"  # tensors that change without a gradient (Delta-LoRA's W)
ROLE_COLOR = {"frozen": FROZEN, "trainable": TRAINABLE, "delta": TRAINABLE, "moving": MOVING_COLOR}
ROLE_WORD = {"frozen": "frozen", "trainable": "trainable", "delta": "from trainables", "moving": "no gradient, moves"}
ROLE_SCALE = {"frozen": FROZEN_DIVERGING, "trainable": TRAINABLE_DIVERGING,
              "delta": TRAINABLE_DIVERGING, "moving": FROZEN_DIVERGING}


def _round(a: np.ndarray) -> list:
    """Four significant decimals keep the figure's JSON small without visible change."""
    return np.round(a.astype(np.float64), 4).tolist()  # lists: frames do not decode typed arrays


def _zmax(run, name: str) -> float:
    """One colour range per tensor for the whole run, so growth is visible (not rescaled)."""
    peak = max(float(np.abs(frame[name]).max()) for frame in run.frames)
    return peak if peak > 0 else 1.0


def _changes(run, name: str) -> bool:
    return any(not np.array_equal(run.frames[0][name], f[name]) for f in run.frames[1:])


def _heatmap(run, view, frame: dict, zmax: float) -> go.Heatmap:
    a = frame[view.name]
    return go.Heatmap(
        z=_round(a), zmin=-zmax, zmax=zmax, zmid=0.0, colorscale=ROLE_SCALE[view.role],
        showscale=False, xgap=1, ygap=1, name=view.name,
        hovertemplate=f"{view.name}[%{{y}}, %{{x}}] = %{{z:.4f}}<extra></extra>",
    )


def _subplot_title(view, shape: tuple[int, ...]) -> str:
    color = ROLE_COLOR[view.role]
    return f"<b>{view.title}</b><br><span style='color:{color}'>{ROLE_WORD[view.role]}</span> · {shape[0]}×{shape[1]}"


def _style_matrix_axes(fig: go.Figure, col: int, view, shape: tuple[int, ...]) -> None:
    """True aspect ratio (one square per number), row 0 at the top like a matrix."""
    xa = "x" if col == 1 else f"x{col}"
    fig.update_xaxes(row=1, col=col, showgrid=False, zeroline=False, showticklabels=False,
                     title=dict(text=f"{view.cols} = {shape[1]}", font=dict(size=11)),
                     constrain="domain", linecolor=ROLE_COLOR[view.role], mirror=True,
                     showline=True, linewidth=3)
    fig.update_yaxes(row=1, col=col, showgrid=False, zeroline=False, showticklabels=False,
                     title=dict(text=f"{view.rows} = {shape[0]}", font=dict(size=11)),
                     autorange="reversed", scaleanchor=xa, scaleratio=1, constrain="domain",
                     linecolor=ROLE_COLOR[view.role], mirror=True, showline=True, linewidth=3)


def _loss_traces(run, upto: int) -> list[go.Scatter]:
    steps = list(range(len(run.loss)))
    return [
        go.Scatter(x=steps[: upto + 1], y=run.loss[: upto + 1], mode="lines", name="loss so far",
                   line=dict(color=TRAINABLE, width=3), hovertemplate="step %{x}: loss %{y:.4f}<extra></extra>"),
        go.Scatter(x=[upto], y=[run.loss[upto]], mode="markers", name="current step",
                   marker=dict(color=TRAINABLE, size=11, line=dict(color="white", width=2)),
                   hoverinfo="skip"),
    ]


def _controls(steps: list[int]) -> tuple[list[dict], list[dict]]:
    play = dict(label="▶ Play", method="animate",
                args=[None, {"frame": {"duration": 180, "redraw": True}, "fromcurrent": True,
                             "transition": {"duration": 0}, "mode": "immediate"}])
    pause = dict(label="❚❚ Pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}])
    menus = [dict(type="buttons", direction="left", x=0.0, y=-0.13, xanchor="left", yanchor="top",
                  showactive=False, buttons=[play, pause], pad=dict(r=8, t=8))]
    slider_steps = [dict(label=fmt_int(s), method="animate",
                         args=[[str(s)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                                          "transition": {"duration": 0}}]) for s in steps]
    sliders = [dict(active=0, steps=slider_steps, x=0.16, len=0.84, y=-0.1, yanchor="top",
                    currentvalue=dict(prefix="optimizer step: ", font=dict(size=13)),
                    pad=dict(t=30, b=10))]
    return menus, sliders


def tensor_animation(run, title: str, height: int = 640) -> go.Figure:
    """Animated figure of ``run`` (a ``peft_edu.lessons.Run``): tensors on top, loss below."""
    views = list(run.tensors)
    shapes = [run.frames[0][v.name].shape for v in views]
    widths = [max(s[1], 2) + 3 for s in shapes]  # +3: room for the axis title of thin matrices
    fig = make_subplots(
        rows=2, cols=len(views), column_widths=widths, row_heights=[0.62, 0.38],
        specs=[[{}] * len(views), [{"colspan": len(views)}] + [None] * (len(views) - 1)],
        subplot_titles=[_subplot_title(v, s) for v, s in zip(views, shapes)] + ["Training loss"],
        vertical_spacing=0.2, horizontal_spacing=0.035,
    )
    for note in fig.layout.annotations[: len(views)]:  # two-line titles clear the matrices' frames
        note.update(yshift=8)
    zmax = {v.name: _zmax(run, v.name) for v in views}
    for col, (view, shape) in enumerate(zip(views, shapes), start=1):
        fig.add_trace(_heatmap(run, view, run.frames[0], zmax[view.name]), row=1, col=col)
        _style_matrix_axes(fig, col, view, shape)
    fig.add_trace(go.Scatter(x=list(range(len(run.loss))), y=run.loss, mode="lines", name="whole run",
                             line=dict(color="#cccccc", width=2), hoverinfo="skip"), row=2, col=1)
    for trace in _loss_traces(run, run.steps[0]):
        fig.add_trace(trace, row=2, col=1)
    n = len(run.loss) - 1
    fig.update_xaxes(row=2, col=1, title="optimizer step", tickformat=",d", range=[-0.01 * n, 1.01 * n])
    fig.update_yaxes(row=2, col=1, title=run.loss_label, type="log", dtick=1, exponentformat="power")
    _add_frames(fig, run, views, zmax)
    menus, sliders = _controls(run.steps)
    fig.update_layout(updatemenus=menus, sliders=sliders, showlegend=False)
    base_layout(fig, title, height=height)
    fig.update_layout(margin=dict(l=40, r=20, t=110, b=150))
    return fig


def _add_frames(fig: go.Figure, run, views, zmax: dict[str, float]) -> None:
    """Each frame replaces only what changes: the moving tensors and the two loss traces."""
    moving = [i for i, v in enumerate(views) if _changes(run, v.name)]
    loss_idx = [len(views) + 1, len(views) + 2]
    frames = []
    for step, frame in zip(run.steps, run.frames):
        data = [_heatmap(run, views[i], frame, zmax[views[i].name]) for i in moving]
        data += _loss_traces(run, step)
        frames.append(go.Frame(data=data, traces=moving + loss_idx, name=str(step)))
    fig.frames = frames
