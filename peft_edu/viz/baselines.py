"""Figures of the cheapest-baselines lesson (BitFit, LN tuning) and of PiSSA's start."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.registry import METHODS
from peft_edu.viz.matrices import TRAINABLE_DIVERGING
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles


def _name(key: str) -> str:
    return METHODS[key].name if key in METHODS else "head only"


def share_accuracy_figure(runs, highlight: str) -> go.Figure:
    """Test accuracy (y) against the trainable share (x, log), one point per recorded run."""
    fig = go.Figure()
    for run in runs:
        mine = run.method == highlight
        fig.add_trace(go.Scatter(
            x=[max(run.share, 1e-4)], y=[100 * run.accuracy], mode="markers+text", name=_name(run.method),
            text=[_name(run.method)], textposition="top center", showlegend=False,
            marker=dict(size=16 if mine else 10, color=TRAINABLE if mine else FROZEN),
            hovertemplate=f"{_name(run.method)}: {run.trainable:,} trainable ({run.share:.3f} %)<br>"
                          f"test accuracy {100 * run.accuracy:.1f} %<extra></extra>"))
    fig.update_xaxes(title="trainable share of the encoder, % (log scale)", type="log")
    fig.update_yaxes(title="test accuracy, %", range=[40, 105])
    return base_layout(fig, "Real lab runs: how much has to train?", height=420)


def pissa_start_figure(start) -> go.Figure:
    """LoRA's and PiSSA's s·B·A at step 0 (heat maps, same colour range) and both losses."""
    fig = make_subplots(rows=1, cols=3, column_widths=[0.27, 0.27, 0.46], horizontal_spacing=0.08,
                        subplot_titles=("LoRA: s·B·A<br>at step 0", "PiSSA: s·B·A<br>at step 0", "loss"))
    top = float(abs(start.pissa_dW0).max()) or 1.0
    for col, matrix in ((1, start.lora_dW0), (2, start.pissa_dW0)):
        fig.add_trace(go.Heatmap(z=matrix[::-1], zmin=-top, zmax=top, colorscale=TRAINABLE_DIVERGING,
                                 showscale=col == 2, colorbar=dict(x=0.5, len=0.8)), row=1, col=col)
        fig.update_xaxes(title="d_in", showticklabels=False, row=1, col=col)
        fig.update_yaxes(title="d_out", showticklabels=False, scaleanchor=f"x{col}" if col > 1 else "x",
                         row=1, col=col)
    steps = list(range(len(start.lora_loss)))
    for key, loss, color in (("lora", start.lora_loss, FROZEN), ("pissa", start.pissa_loss, TRAINABLE)):
        fig.add_trace(go.Scatter(x=steps, y=loss, mode="lines", name=METHODS[key].name,
                                 line=dict(color=color, width=2)), row=1, col=3)
    fig.update_xaxes(title="step", row=1, col=3)
    fig.update_yaxes(title="MSE (log scale)", type="log", exponentformat="power", row=1, col=3)
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return base_layout(fig, f"Same rank r = {start.r}, same learning rate: where each starts", height=420,
                       top=fit_subplot_titles(fig, 12))
