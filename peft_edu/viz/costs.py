"""Figures of what weights cost: NF4 quantization (QLoRA) and full fine-tuning's memory.

Pure functions over ``peft_edu.lessons.quantization`` and ``peft_edu.lessons.costs`` data.
Memory in decimal gigabytes (1 GB = 10^9 bytes), as GPU spec sheets use.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from peft_edu.registry import METHODS
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles, fmt_bytes, wrap

NF4_COLOR = "#b5489b"  # the quantized family's colour (style.FAMILY_COLORS)
TERM_COLORS = {"Weights": FROZEN, "Gradients": TRAINABLE, "Optimizer states": "#b5481b", "Activations": "#c9a227"}


def nf4_levels_figure(normalised: np.ndarray, levels: np.ndarray, source: str) -> go.Figure:
    """Histogram of w / absmax (blocks of 64) with the 16 NF4 levels on top."""
    counts, edges = np.histogram(normalised, bins=120, range=(-1.0, 1.0))
    centers = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centers.tolist(), y=counts.tolist(), width=float(edges[1] - edges[0]),
                           marker_color=FROZEN, name="weights (w / absmax of their block)",
                           hovertemplate="w/absmax ≈ %{x:.3f}: %{y:,} weights<extra></extra>"))
    top = float(counts.max())
    fig.add_trace(go.Scatter(x=np.repeat(levels, 3).tolist(), y=[0, top * 1.05, None] * len(levels),
                             mode="lines", line=dict(color=NF4_COLOR, width=2), name="the 16 NF4 levels",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=levels.tolist(), y=[top * 1.08] * len(levels), mode="markers",
                             marker=dict(color=NF4_COLOR, size=8, symbol="triangle-down"), showlegend=False,
                             hovertemplate="NF4 level %{x:.4f}<extra></extra>"))
    fig.update_xaxes(title="weight divided by the absmax of its block of 64 (unitless, −1 … 1)")
    fig.update_yaxes(title="number of weights")
    fig.update_layout(legend=dict(orientation="h", y=-0.22))
    fig.add_annotation(text=wrap(source, 50), xref="paper", yref="paper", x=0, y=1.0, showarrow=False,
                       xanchor="left", yanchor="bottom", align="left", font=dict(size=11, color="#666"))
    return base_layout(fig, "NF4's levels are dense where the weights are dense", height=440,
                       top=14 * (wrap(source, 50).count("<br>") + 1))


def nf4_codes_figure(base) -> go.Figure:
    """The animated W0 beside its NF4 form (``lessons.quantization.AnimatedBase``): the weights,
    the 4-bit code of each (0 … 15), and the 16 values per block the layer really computes with."""
    from plotly.subplots import make_subplots

    rows, cols = base.codes.shape
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("W₀<br>(float32)", "its 4-bit<br>codes", "W₀ as the<br>layer uses it"))
    top = float(np.abs(base.original).max()) or 1.0
    for col, z, scale, hover in ((1, base.original, "RdBu_r", "w = %{z:.4f}"),
                                 (2, base.codes, "Viridis", "code %{z}"),
                                 (3, base.dequantized, "RdBu_r", "level·absmax = %{z:.4f}")):
        signed = scale == "RdBu_r"
        fig.add_trace(go.Heatmap(z=z.tolist(), colorscale=scale, zmin=-top if signed else 0,
                                 zmax=top if signed else 15, showscale=col == 2,
                                 colorbar=dict(title="code", len=0.8, thickness=10) if col == 2 else None,
                                 hovertemplate=f"row %{{y}}, col %{{x}}: {hover}<extra></extra>"), 1, col)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    return base_layout(fig, f"The page's frozen W₀ ({rows}×{cols}) in NF4: blocks of 64, 16 levels each",
                       height=360, top=fit_subplot_titles(fig, 14))


def quant_error_figure(errors) -> go.Figure:
    """Round-trip RMSE of each 4-bit scheme, labelled with its bits per weight."""
    labels = [e.label for e in errors]
    colors = ["#999999", NF4_COLOR, NF4_COLOR]
    fig = go.Figure(go.Bar(x=labels, y=[e.rmse for e in errors], marker_color=colors[: len(errors)],
                           text=[f"{e.rmse:.2e} · {e.bits_per_weight:.3f} bits/weight" for e in errors],
                           textposition="outside"))
    fig.update_xaxes(title="quantization scheme (blocks of 64 weights)")
    fig.update_yaxes(title="RMSE of the round trip (weight units)", rangemode="tozero")
    return base_layout(fig, "Quantization error on the real weights", height=400)


def weight_memory_figure(rows) -> go.Figure:
    """Bytes of each model's weights in 16 bits and with NF4 + double quantization."""
    models = [r.model for r in rows]
    fig = go.Figure()
    for name, attr, color in (("16-bit weights", "bytes_16", FROZEN), ("NF4 + double quantization", "bytes_nf4",
                                                                       NF4_COLOR)):
        values = [getattr(r, attr) for r in rows]
        fig.add_trace(go.Bar(x=models, y=[v / 1e9 for v in values], name=name, marker_color=color,
                             text=[fmt_bytes(v) for v in values], textposition="outside"))
    fig.update_xaxes(title="model")
    fig.update_yaxes(title="memory of the weights (GB, log scale)", type="log")
    fig.update_layout(barmode="group")
    return base_layout(fig, "Memory of the frozen weights: 16-bit vs 4-bit NF4", height=420)


def training_memory_figure(costs) -> go.Figure:
    """Stacked bars: weights, gradients, optimizer states, activations, per model and method."""
    labels = [f"{c.model}<br>{METHODS[c.method].name}" for c in costs]
    fig = go.Figure()
    for term, color in TERM_COLORS.items():
        values = [c.memory.parts()[term] for c in costs]
        fig.add_trace(go.Bar(x=labels, y=[v / 1e9 for v in values], name=term, marker_color=color,
                             customdata=[fmt_bytes(v) for v in values],
                             hovertemplate="%{x}<br>" + term + ": %{customdata}<extra></extra>"))
    totals = [c.memory.total for c in costs]
    fig.add_trace(go.Scatter(x=labels, y=[t / 1e9 for t in totals], mode="text", text=[fmt_bytes(t) for t in totals],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_xaxes(title="model and method")
    fig.update_yaxes(title="training memory (GB)", rangemode="tozero")
    fig.update_layout(barmode="stack")
    return base_layout(fig, "Training memory: 16-bit mixed precision, AdamW, batch 8 × 512 tokens", height=460)
