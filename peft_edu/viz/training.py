"""Figures of the live lab: training curves (one run or a race), confusion matrix, probabilities.

Pure functions: plain numbers in, ``go.Figure`` out; no Streamlit, no torch. Colours follow
the app's language: the frozen base model in grey-blue, the fine-tuned one in the warm colour;
in a race each method keeps one colour of its own on every chart.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.registry import METHODS
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fmt_int

# One colour per method (registry order), readable on white; the same method is the same
# colour in every race. LoRA gets the app's warm "trainable" colour.
PALETTE = (
    "#7f7f7f", TRAINABLE, "#d62728", "#8c564b", "#bcbd22", "#ff9896", "#9467bd", "#b5489b",
    "#2a9d8f", "#17becf", "#c9a227", "#1f77b4", "#e377c2", "#393b79", "#637939", "#8c6d31",
    "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1", "#636363", "#e6550d", "#6baed6",
)
METHOD_COLORS = dict(zip(METHODS, PALETTE))
METHOD_COLORS["head_only"] = FROZEN  # the baseline trains no encoder weight
BASELINE_COLOR = FROZEN


@dataclass(frozen=True)
class RunSeries:
    """What a run has logged so far, as plain lists (the figure copies nothing else)."""

    label: str  # legend entry, e.g. "LoRA r=8 (run 2)"
    method: str  # registry key: picks the colour
    steps: Sequence[int]  # optimizer step of each loss value (1-based)
    loss: Sequence[float]  # training loss (cross-entropy, nats) after each step
    eval_steps: Sequence[int] = ()  # steps at which the test split was scored
    accuracy: Sequence[float] = ()  # test accuracy in [0, 1] at those steps


def series_of(label: str, method: str, metrics: Sequence) -> RunSeries:
    """A ``RunSeries`` from ``peft_edu.lab.metrics.StepMetrics`` records (step, loss, test_acc)."""
    evals = [m for m in metrics if m.test_acc is not None]
    return RunSeries(label, method, [m.step for m in metrics], [m.loss for m in metrics],
                     [m.step for m in evals], [m.test_acc for m in evals])


def method_color(method: str) -> str:
    return METHOD_COLORS.get(method, TRAINABLE)


def training_curves(runs: Sequence[RunSeries], baseline: float | None = None,
                    title: str = "Training loss and test accuracy") -> go.Figure:
    """Loss (left) and test accuracy (right) against the step, every run overlaid.

    ``baseline``: test accuracy in [0, 1] of training the classifier head alone on the frozen
    model, drawn as a dashed line on the accuracy panel.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Training loss", "Test accuracy"))
    for run in runs:
        color = method_color(run.method)
        fig.add_trace(go.Scatter(x=list(run.steps), y=list(run.loss), mode="lines", name=run.label,
                                 legendgroup=run.label, line=dict(color=color, width=2),
                                 hovertemplate="step %{x:,}<br>loss %{y:.3f}<extra>" + run.label + "</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=list(run.eval_steps), y=[100 * a for a in run.accuracy],
                                 mode="lines+markers", name=run.label, legendgroup=run.label,
                                 showlegend=False, line=dict(color=color, width=2),
                                 hovertemplate="step %{x:,}<br>accuracy %{y:.1f}%<extra>" + run.label + "</extra>"),
                      row=1, col=2)
    if baseline is not None:
        fig.add_hline(y=100 * baseline, line=dict(color=BASELINE_COLOR, dash="dash"), row=1, col=2,
                      annotation_text=f"head only {100 * baseline:.1f}%", annotation_position="bottom right")
    fig.update_xaxes(title_text="optimizer step", rangemode="tozero")
    finite = [v for run in runs for v in run.loss if math.isfinite(v)]
    loss_range = [0, 1.1 * max(finite)] if finite and max(finite) > 0 else None
    fig.update_yaxes(title_text="cross-entropy loss (nats)", rangemode="tozero", range=loss_range, row=1, col=1)
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 100], row=1, col=2)
    base_layout(fig, title, height=400)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(b=90))
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]], label_names: Sequence[str],
                     title: str = "Confusion matrix on the test set") -> go.Figure:
    """Counts of (true label, predicted label) as a heat map; the diagonal is correct."""
    rows = [list(map(int, row)) for row in matrix]
    if len(rows) != len(label_names) or any(len(row) != len(label_names) for row in rows):
        raise ValueError(f"matrix must be {len(label_names)}×{len(label_names)} (one row and column per label)")
    total = sum(map(sum, rows))
    correct = sum(rows[i][i] for i in range(len(rows)))
    names = [str(n) for n in label_names]
    fig = go.Figure(go.Heatmap(
        z=rows, x=names, y=names, colorscale="Oranges", text=[[fmt_int(v) for v in row] for row in rows],
        texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}<br>%{z:,} sentences<extra></extra>",
        colorbar=dict(title="sentences"),
    ))
    accuracy = f"<br>{correct:,} of {total:,} correct ({100 * correct / total:.1f}%)" if total else ""
    base_layout(fig, title + accuracy, height=380)
    fig.update_xaxes(title_text="predicted label", side="bottom", type="category")
    fig.update_yaxes(title_text="true label", autorange="reversed", type="category", scaleanchor="x")
    return fig


def probability_bars(label_names: Sequence[str], base: Sequence[float], tuned: Sequence[float],
                     title: str = "Probability of each label", base_name: str = "base model") -> go.Figure:
    """Side-by-side bars: the reference model (``base_name``: the trained head-only baseline, or
    the base with an untrained head) and the fine-tuned one."""
    if not (len(label_names) == len(base) == len(tuned)):
        raise ValueError("one probability per label is needed for both models")
    names = [str(n) for n in label_names]
    fig = go.Figure()
    for model, probs, color in ((base_name, base, FROZEN), ("fine-tuned", tuned, TRAINABLE)):
        values = [100 * float(p) for p in probs]
        fig.add_trace(go.Bar(x=names, y=values, name=model, marker_color=color,
                             text=[f"{v:.1f}%" for v in values], textposition="outside",
                             hovertemplate="%{x}: %{y:.1f}%<extra>" + model + "</extra>"))
    base_layout(fig, title, height=340)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="label", type="category")
    fig.update_yaxes(title_text="probability (%)", range=[0, 110])
    return fig
