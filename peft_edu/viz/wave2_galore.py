"""Figures of GaLore's lesson: the projector over the steps, and the optimizer's memory."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles


def projector_figure(run) -> go.Figure:
    """Top: share of the gradient's energy P captures. Bottom: overlap of P with the step before."""
    steps = list(range(1, run.steps + 1))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("share of the gradient inside P's subspace, ‖PᵀG‖² / ‖G‖²",
                                        "overlap of P with the step before, ‖PₜᵀPₜ₋₁‖² / r"))
    fig.add_trace(go.Scatter(x=steps, y=run.captured, mode="lines+markers", name="captured",
                             line=dict(color=TRAINABLE, width=2), marker=dict(size=4)), row=1, col=1)
    fig.add_trace(go.Scatter(x=steps[1:], y=run.overlap, mode="lines+markers", name="overlap",
                             line=dict(color=FROZEN, width=2), marker=dict(size=4)), row=2, col=1)
    for step in run.refreshes:
        fig.add_vline(x=step, line=dict(color="#999", dash="dot", width=1))
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], row=2, col=1)
    fig.update_xaxes(title="optimizer step (dotted: a new P)", row=2, col=1)
    fig.update_layout(showlegend=False)
    return base_layout(fig, f"GaLore's projector on {run.layer} {run.shape[0]}×{run.shape[1]}: r = {run.r}, "
                            f"recomputed every T = {run.T} steps", height=520, top=fit_subplot_titles(fig, 44))


def memory_figure(run) -> go.Figure:
    """Optimizer state values, Adam against GaLore: the lesson's model (measured) and one big weight."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "tiny BERT, all linear weights (measured)",
        f"one 4,096×11,008 weight (Llama-7B MLP), r = {run.big_r}"))
    fig.add_trace(go.Bar(x=["Adam: 2·m·n", "GaLore: moments", "GaLore: P"],
                         y=[run.adam_moments, run.moments, run.projectors],
                         marker_color=[FROZEN, TRAINABLE, TRAINABLE]), row=1, col=1)
    fig.add_trace(go.Bar(x=["Adam: 2·m·n", "GaLore: 2·r·n + m·r"], y=[run.big_adam, run.big_galore],
                         marker_color=[FROZEN, TRAINABLE]), row=1, col=2)
    fig.update_yaxes(title="optimizer state values (fp32)", row=1, col=1)
    fig.update_layout(showlegend=False)
    return base_layout(fig, "The optimizer memory GaLore saves", height=380, top=fit_subplot_titles(fig, 16))
