"""Figure of AdaLoRA's lesson: the budget b(t) and the kept rank of every layer per step."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.viz.style import FROZEN, TRAINABLE, TRAINABLE_SCALE, base_layout, fit_subplot_titles


def rank_figure(run) -> go.Figure:
    """Top: the budget b(t) and the kept total. Bottom: kept triplets per layer (rows) per step."""
    steps = list(range(run.steps + 1))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.3, 0.7], vertical_spacing=0.06,
                        subplot_titles=("total budget b(t): kept triplets of all layers", "kept rank per layer"))
    fig.add_trace(go.Scatter(x=steps, y=run.budget, mode="lines", name="budget b(t)",
                             line=dict(color=FROZEN, width=2, dash="dash")), row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=run.ranks.sum(axis=0), mode="lines", name="kept (sum of ranks)",
                             line=dict(color=TRAINABLE, width=2)), row=1, col=1)
    fig.add_trace(go.Heatmap(z=run.ranks[::-1], x=steps, y=list(run.layers[::-1]), zmin=0, zmax=run.r0,
                             colorscale=TRAINABLE_SCALE, colorbar=dict(title="rank", len=0.65, y=0.33),
                             hovertemplate="%{y}, step %{x}: rank %{z}<extra></extra>", showlegend=False),
                  row=2, col=1)
    fig.update_yaxes(title="triplets", row=1, col=1)
    fig.update_xaxes(title="optimizer step", row=2, col=1)
    fig.update_layout(legend=dict(orientation="h", y=1.12, x=0.5, xanchor="center"))
    return base_layout(fig, f"AdaLoRA moves the rank: every layer starts at r₀ = {run.r0}, the budget falls "
                            f"to {len(run.layers)} × {run.r}", height=560, top=fit_subplot_titles(fig, 44))
