"""Figures of LoKr's lesson: its count against LoRA's, and the rank of C ⊗ D."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.viz.matrices import TRAINABLE_DIVERGING
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles

RANK_COLORS = ("#f4a261", TRAINABLE, "#9c3d12")  # light to dark orange, one per rank of the factor sweep
FULL = "#7f7f7f"


def count_figure(curves) -> go.Figure:
    """Left: trainable numbers of a d × d layer against d (log-log) for LoRA, LoKr (peft's
    defaults and decompose_both) and full fine-tuning. Right: LoKr at 4,096 × 4,096 for every
    factor f, one line per rank, LoRA's count at that rank dotted."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.1,
                        subplot_titles=(f"one d × d layer, r = {curves.r}",
                                        "LoKr at 4,096 × 4,096 against its factor f"))
    d = list(curves.widths)
    lines = ((f"LoRA, r = {curves.r}", curves.lora, FROZEN, "solid"),
             (f"LoKr, r = {curves.r}", curves.lokr, TRAINABLE, "solid"),
             (f"LoKr, r = {curves.r}, decompose_both", curves.lokr_both, TRAINABLE, "dash"),
             ("full fine-tuning, d²", curves.full, FULL, "dot"))
    for name, ys, color, dash in lines:
        fig.add_trace(go.Scatter(x=d, y=ys, mode="lines+markers", name=name, legendgroup="left",
                                 line=dict(color=color, dash=dash, width=2),
                                 hovertemplate=f"{name}<br>d = %{{x}}: %{{y:,}} trainable<extra></extra>"),
                      row=1, col=1)
    fig.update_xaxes(title="layer width d (log scale)", type="log", row=1, col=1)
    fig.update_yaxes(title="trainable numbers (log scale)", type="log", exponentformat="power", row=1, col=1)
    f = list(curves.factors)
    for color, k in zip(RANK_COLORS, curves.factor_ranks):
        fig.add_trace(go.Scatter(x=f, y=curves.factor_counts[k], mode="lines+markers", name=f"LoKr r = {k}",
                                 line=dict(color=color, width=2), legendgroup="right",
                                 hovertemplate=f"LoKr r = {k}, f = %{{x}}: C is f × f, %{{y:,}} trainable<extra></extra>"),
                      row=1, col=2)
        fig.add_trace(go.Scatter(x=[f[0], f[-1]], y=[curves.factor_lora[k]] * 2, mode="lines",
                                 name=f"LoRA r = {k}", legendgroup="right", line=dict(color=color, dash="dot"),
                                 hovertemplate=f"LoRA r = {k}: {curves.factor_lora[k]:,}<extra></extra>"),
                      row=1, col=2)
    fig.update_xaxes(title="factor f (C is f × f, D is 4096/f × 4096/f)", type="log", tickvals=f, row=1, col=2)
    fig.update_yaxes(title="trainable numbers (log scale)", type="log", exponentformat="power", row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return base_layout(fig, "Same ΔW shape, far fewer numbers: LoKr against LoRA", height=480,
                       top=fit_subplot_titles(fig, 16))


def rank_figure(run) -> go.Figure:
    """The trained C, D and ΔW = (α/r)·C ⊗ D (heat maps), and the singular values of ΔW
    against the products σ_i(C)·σ_j(D) and LoRA's at the same r."""
    fig = make_subplots(rows=1, cols=4, column_widths=[0.12, 0.14, 0.34, 0.40], horizontal_spacing=0.06,
                        subplot_titles=(f"C {run.C.shape[0]}×{run.C.shape[1]}",
                                        f"D {run.D.shape[0]}×{run.D.shape[1]} (rank {run.rank_D})",
                                        f"ΔW = C ⊗ D {run.dW.shape[0]}×{run.dW.shape[1]}",
                                        "singular values"))
    for col, matrix in ((1, run.C), (2, run.D), (3, run.dW)):
        top = float(abs(matrix).max()) or 1.0
        fig.add_trace(go.Heatmap(z=matrix[::-1], zmin=-top, zmax=top, colorscale=TRAINABLE_DIVERGING,
                                 showscale=False, hovertemplate="%{z:.3g}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, scaleanchor=f"x{col}" if col > 1 else "x", row=1, col=col)
    u2, v2 = run.D.shape
    for i in range(1, run.C.shape[0]):  # block edges: each block is C_ij · D
        fig.add_hline(y=i * u2 - 0.5, line=dict(color="#444", width=1), row=1, col=3)
    for j in range(1, run.C.shape[1]):
        fig.add_vline(x=j * v2 - 0.5, line=dict(color="#444", width=1), row=1, col=3)
    n = len(run.sv_dW)
    index = list(range(1, n + 1))
    fig.add_trace(go.Scatter(x=index, y=run.sv_dW, mode="markers", name=f"ΔW of LoKr (rank {run.rank_dW})",
                             marker=dict(color=TRAINABLE, size=11)), row=1, col=4)
    fig.add_trace(go.Scatter(x=index, y=run.sv_products[:n], mode="markers", name="σᵢ(C)·σⱼ(D), sorted",
                             marker=dict(color="#222", size=7, symbol="x")), row=1, col=4)
    fig.add_trace(go.Scatter(x=index, y=run.sv_lora, mode="markers", name=f"ΔW of LoRA (rank {run.rank_lora})",
                             marker=dict(color=FROZEN, size=8, symbol="diamond")), row=1, col=4)
    fig.update_xaxes(title="index", row=1, col=4)
    fig.update_yaxes(title="singular value (log scale)", type="log", exponentformat="power", row=1, col=4)
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return base_layout(fig, f"Trained on the toy layer at r = {run.r}: rank C · rank D = "
                            f"{run.rank_C} · {run.rank_D} = {run.rank_dW}", height=420,
                       top=fit_subplot_titles(fig, 8, size=12))  # narrow columns: C and D are small
