"""Figures of the Semantic search lab (plotly only, no streamlit).

Base-model marks are drawn in the frozen grey-blue, the fine-tuned model's in the warm
trainable colour, as everywhere in the app.
"""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout

NEGATIVE = "#9a9a9a"  # negative pairs: neutral grey


def loss_curves(runs: list[tuple[str, list[int], list[float]]]) -> go.Figure:
    """Training loss of each run: ``(label, steps, losses)``."""
    fig = go.Figure()
    for label, steps, losses in runs:
        fig.add_trace(go.Scatter(x=steps, y=losses, mode="lines", name=label))
    fig.update_xaxes(title="optimizer step")
    fig.update_yaxes(title="ranking loss (cross-entropy, nats)", rangemode="tozero")
    return base_layout(fig, "Training loss (multiple-negatives ranking)", height=340)


def cosine_histograms(positive, negative, base_positive=(), base_negative=(), step: int = 0) -> go.Figure:
    """Histograms of cos(question, its passage) and cos(question, other passages).

    Separated humps mean the right passage wins; the base model's are drawn faint behind."""
    fig = go.Figure()
    bins = dict(start=-0.2, end=1.0, size=0.04)
    for values, name, color, opacity in (
        (base_negative, "negative pairs, base", NEGATIVE, 0.25), (base_positive, "positive pairs, base", FROZEN, 0.35),
        (negative, f"negative pairs, step {step:,}", NEGATIVE, 0.7),
        (positive, f"positive pairs, step {step:,}", TRAINABLE, 0.75),
    ):
        if len(values):
            fig.add_trace(go.Histogram(x=list(values), name=name, marker_color=color, opacity=opacity,
                                       xbins=bins, histnorm="probability density"))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="cosine similarity", range=[-0.2, 1.0])
    fig.update_yaxes(title="density")
    return _legend_below(base_layout(fig, "Right vs other passages: cosine", height=420))


def _legend_below(fig: go.Figure) -> go.Figure:
    """Legend under the plot: two figures share a row, and a side legend would squeeze them."""
    fig.update_xaxes(title_standoff=4)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.34, xanchor="left", x=0),
                      margin=dict(l=60, r=20, t=60, b=60))
    return fig


def projection(query_xy, passage_xy, base_query_xy=(), base_passage_xy=(), step: int = 0) -> go.Figure:
    """Questions (circles) and their passages (diamonds) on two fixed axes; a line joins each
    pair. The base model's positions are faint: training pulls each pair together."""
    fig = go.Figure()
    for qs, ps, color, label, opacity in ((base_query_xy, base_passage_xy, FROZEN, "base", 0.35),
                                          (query_xy, passage_xy, TRAINABLE, f"step {step:,}", 1.0)):
        if not len(qs):
            continue
        xs, ys = [], []
        for (qx, qy), (px, py) in zip(qs, ps):
            xs += [qx, px, None]
            ys += [qy, py, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=1), opacity=opacity,
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[x for x, _ in qs], y=[y for _, y in qs], mode="markers", opacity=opacity,
                                 marker=dict(color=color, size=9), name=f"questions, {label}"))
        fig.add_trace(go.Scatter(x=[x for x, _ in ps], y=[y for _, y in ps], mode="markers", opacity=opacity,
                                 marker=dict(color=color, size=10, symbol="diamond-open"), name=f"passages, {label}"))
    fig.update_xaxes(title="principal component 1 (base model's)")
    fig.update_yaxes(title="principal component 2", scaleanchor="x", scaleratio=1)  # true distances
    return _legend_below(base_layout(fig, "2-D map: questions and their passages", height=420))


def dims_bars(by_dims: dict[int, tuple[float, float]]) -> go.Figure:
    """recall@10 of the base and tuned embeddings cut to each size."""
    dims = sorted(by_dims, reverse=True)
    labels = [f"{d} dims" for d in dims]
    fig = go.Figure([
        go.Bar(x=labels, y=[100 * by_dims[d][0] for d in dims], name="base model", marker_color=FROZEN),
        go.Bar(x=labels, y=[100 * by_dims[d][1] for d in dims], name="fine-tuned", marker_color=TRAINABLE),
    ])
    fig.update_yaxes(title="held-out recall@10 (%)", range=[0, 100])
    fig.update_xaxes(title="embedding size (first dimensions kept, renormalised)")
    return base_layout(fig, "Embedding size vs recall@10", height=340)


def trap_bars(rows: list[tuple[str, float, float]]) -> go.Figure:
    """recall@10 before and after for each run: ``(label, before, after)``."""
    fig = go.Figure([
        go.Bar(x=[r[0] for r in rows], y=[100 * r[1] for r in rows], name="base model", marker_color=FROZEN),
        go.Bar(x=[r[0] for r in rows], y=[100 * r[2] for r in rows], name="after fine-tuning", marker_color=TRAINABLE),
    ])
    fig.update_yaxes(title="held-out recall@10 (%)", range=[0, 100])
    fig.update_xaxes(title="run")
    return base_layout(fig, "What each trap does to recall@10 (measured runs)", height=360)
