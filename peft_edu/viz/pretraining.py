"""Figures of the pre-training experiment (``peft_edu.lessons.pretraining``).

Pure functions: an ``Experiment`` (plain data) in, ``go.Figure`` out. Runs keep one colour in
every figure: full training dark grey (the baseline), LoRA light to dark orange as r grows,
ReLoRA and GaLore their own hues; every chart has a title and labelled axes with units.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.viz.lessons import FULL_COLOR, RANK_COLORS
from peft_edu.viz.style import base_layout, fit_subplot_titles, fmt_bytes, fmt_int

# By position in ``pretraining.RUNS``: full, LoRA r = 4 / 16 / 64, ReLoRA, GaLore.
PALETTE = (FULL_COLOR, RANK_COLORS[0], RANK_COLORS[2], RANK_COLORS[4], "#6a4c93", "#2a9d8f")
DASHES = ("solid", "solid", "solid", "solid", "dash", "dot")
if TYPE_CHECKING:  # plain data from the lesson; the figures never need torch
    from peft_edu.lessons.pretraining import Experiment, RunResult

FLOOR = 1e-8  # relative singular values below this are drawn here (log axis): "zero"


def _style(i: int) -> tuple[str, str]:
    return PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]


def loss_figure(exp: Experiment) -> go.Figure:
    """Training and held-out loss of every run against the optimizer step (the same batches)."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("Training loss", "Held-out loss"))  # what each means: the caption
    for i, run in enumerate(exp.runs):
        color, dash = _style(i)
        for col, values in ((1, run.train), (2, run.held)):
            fig.add_trace(go.Scatter(x=run.steps, y=values, mode="lines", name=run.label, legendgroup=run.label,
                                     showlegend=col == 1, line=dict(color=color, dash=dash, width=2.5),
                                     hovertemplate="step %{x}: %{y:.3f} nats<extra>" + run.label + "</extra>"),
                          row=1, col=col)
    tokens = exp.budget.batch * exp.budget.context
    fig.update_xaxes(title=f"optimizer step ({fmt_int(tokens)} characters each)", tickformat=",d")
    fig.update_yaxes(title="cross-entropy (nats per character, log scale)", type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    return base_layout(fig, f"Pre-training from random weights, {fmt_int(exp.budget.tokens)} characters per run",
                       height=440, top=fit_subplot_titles(fig, 16))


def spectrum_figure(exp: Experiment, layer: str) -> go.Figure:
    """Singular values of one layer's total change W − W0, relative to the largest, per run."""
    fig = go.Figure()
    for i, run in enumerate(exp.runs):
        s = np.asarray(run.spectra[layer])
        rel = s / s.max() if s.max() > 0 else s
        color, dash = _style(i)
        fig.add_trace(go.Scatter(x=list(range(1, len(s) + 1)), y=np.maximum(rel, FLOOR).tolist(), mode="lines",
                                 name=run.label, line=dict(color=color, dash=dash, width=2.5), customdata=s.tolist(),
                                 hovertemplate="σ_%{x} = %{customdata:.3g}<extra>" + run.label + "</extra>"))
    fig.update_xaxes(title="index i of the singular value (largest first)")
    fig.update_yaxes(title="σ_i / σ_1 (log scale; zero drawn at 1e-8)", type="log", exponentformat="power")
    return base_layout(fig, f"Spectrum of the total weight change W − W₀ of {layer}", height=420)


def short_layer(name: str) -> str:
    """'blocks.1.attn.q' -> '1·q'."""
    parts = name.split(".")
    return f"{parts[1]}·{parts[-1]}"


def rank_figure(exp: Experiment) -> go.Figure:
    """Heat map, runs × layers: the numerical rank of W − W0, with its 90 % energy rank below."""
    layers = list(exp.runs[0].spectra)
    ranks = [[run.ranks()[name] for name in layers] for run in exp.runs]
    energy = [[run.energy_ranks()[name] for name in layers] for run in exp.runs]
    text = [[f"{r}<br><sub>{e}</sub>" for r, e in zip(rr, ee)] for rr, ee in zip(ranks, energy)]
    fig = go.Figure(go.Heatmap(z=ranks, x=[short_layer(n) for n in layers], y=[run.label for run in exp.runs],
                               text=text, texttemplate="%{text}", colorscale="Oranges", zmin=0,
                               colorbar=dict(title="rank"),
                               hovertemplate="%{y}, layer %{x}: rank %{z}<extra></extra>"))
    fig.update_xaxes(title="layer (block · weight)", type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    return base_layout(fig, "Rank of W − W₀ per layer<br><sup>top: directions moved at all · below: 90 % of the change</sup>",
                       height=380)


def _bars(fig: go.Figure, runs: list[RunResult], values: list[float], labels: list[str], col: int) -> None:
    colors = [_style(i)[0] for i in range(len(runs))]
    fig.add_trace(go.Bar(x=[r.label for r in runs], y=values, marker_color=colors, text=labels,
                         textposition="outside", showlegend=False, cliponaxis=False), row=1, col=col)


def memory_figure(exp: Experiment) -> go.Figure:
    """Per run: trainable parameters, gradient bytes and optimizer-state bytes (measured on the tensors)."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("Trainable<br>parameters", "Gradients<br>(bytes)", "Optimizer<br>state (bytes)"))
    runs = exp.runs
    _bars(fig, runs, [r.trainable for r in runs], [fmt_int(r.trainable) for r in runs], 1)
    _bars(fig, runs, [r.grad_bytes for r in runs], [fmt_bytes(r.grad_bytes) for r in runs], 2)
    _bars(fig, runs, [r.optimizer_bytes for r in runs], [fmt_bytes(r.optimizer_bytes) for r in runs], 3)
    fig.update_xaxes(tickangle=-35)
    fig.update_yaxes(title="parameters", row=1, col=1)
    fig.update_yaxes(title="bytes", row=1, col=2)
    fig.update_yaxes(title="bytes", row=1, col=3)
    return base_layout(fig, "Memory of each run, measured on its tensors after the last step", height=460,
                       top=fit_subplot_titles(fig, 14))
