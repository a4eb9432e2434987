"""Figures of ReLoRA's lesson: the spectrum of W − W0 after each restart, and the losses."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles


def spectrum_figure(run) -> go.Figure:
    """Singular values of the total change after each restart (log scale), LoRA's for comparison."""
    fig = go.Figure()
    n = len(run.spectra)
    for i, (step, s) in enumerate(zip(run.restart_steps, run.spectra)):
        shade = 0.35 + 0.65 * (i + 1) / n
        fig.add_trace(go.Scatter(x=list(range(1, len(s) + 1)), y=[max(v, 1e-12) for v in s], mode="lines+markers",
                                 name=f"ReLoRA after restart {i + 1} (step {step}): rank {run.ranks[i]}",
                                 line=dict(color=TRAINABLE, width=2), opacity=shade))
    s = run.lora_spectrum
    fig.add_trace(go.Scatter(x=list(range(1, len(s) + 1)), y=[max(v, 1e-12) for v in s], mode="lines+markers",
                             name=f"LoRA after {run.steps} steps: rank {run.lora_rank}",
                             line=dict(color=FROZEN, width=2, dash="dash")))
    fig.add_vline(x=run.r + 0.5, line=dict(color="#999", dash="dot"), annotation_text=f"r = {run.r}")
    fig.update_yaxes(type="log", title="singular value of W − W₀", exponentformat="power")
    fig.update_xaxes(title="index (largest first)")
    return base_layout(fig, f"{run.layer}: the total change gains rank at every restart (r = {run.r}, "
                            f"K = {run.K})", height=440)


def loss_figure(run) -> go.Figure:
    """Both losses, and ReLoRA's jagged learning-rate factor below."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.08,
                        subplot_titles=("task loss", "ReLoRA's learning-rate factor (jagged cosine)"))
    steps = list(range(run.steps + 1))
    fig.add_trace(go.Scatter(x=steps, y=run.relora_loss, name="ReLoRA", line=dict(color=TRAINABLE, width=2)),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=run.lora_loss, name="LoRA", line=dict(color=FROZEN, width=2, dash="dash")),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=steps[:-1], y=run.lr_factor, name="lr factor", showlegend=False,
                             line=dict(color=TRAINABLE, width=1.5)), row=2, col=1)
    for step in run.restart_steps:
        fig.add_vline(x=step, line=dict(color="#999", dash="dot", width=1))
    fig.update_xaxes(title="optimizer step (dotted: a restart)", row=2, col=1)
    fig.update_layout(legend=dict(orientation="h", y=1.1, x=0.5, xanchor="center"))
    return base_layout(fig, "Losses at the same rank, and the restarts", height=460, top=fit_subplot_titles(fig, 44))
