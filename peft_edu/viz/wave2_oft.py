"""Figure of OFT's lesson: ‖RᵀR − I‖ over the run, and the neurons' angles kept (OFT) or not (LoRA)."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.registry import METHODS
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles

FLOOR = 1e-9  # log axes cannot show an exact 0


def orthogonality_figure(run) -> go.Figure:
    """Three panels: OFT's ‖RᵀR − I‖ and ‖R − I‖ per step; the largest change of a cosine
    between two neurons per step, OFT vs LoRA; cosines after training against before."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, column_widths=[0.34, 0.34, 0.32],
                        subplot_titles=("OFT: is R still orthogonal?", "largest change of a neuron-pair cosine",
                                        "cos(w_j, w_k): after vs before"))
    floor = [max(v, FLOOR) for v in run.orth_error]
    fig.add_trace(go.Scatter(x=run.steps, y=floor, mode="lines", name="‖RᵀR − I‖ (OFT)",
                             line=dict(color=TRAINABLE, width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=run.steps, y=[max(v, FLOOR) for v in run.rotation_size], mode="lines",
                             name="‖R − I‖ (how far R turned)", line=dict(color=TRAINABLE, width=2, dash="dot")),
                  row=1, col=1)
    fig.add_hline(y=1e-5, line=dict(color="#999", dash="dash"), row=1, col=1,
                  annotation_text="1e-5 (the test's bound)", annotation_position="top left")
    for key, values, color in (("oft", run.oft_cos_change, TRAINABLE), ("lora", run.lora_cos_change, FROZEN)):
        fig.add_trace(go.Scatter(x=run.steps, y=[max(v, FLOOR) for v in values], mode="lines",
                                 name=f"{METHODS[key].name}: max |Δ cos|", line=dict(color=color, width=2)),
                      row=1, col=2)
    for key, after, color in (("lora", run.lora_cos_after, FROZEN), ("oft", run.oft_cos_after, TRAINABLE)):
        fig.add_trace(go.Scatter(x=run.cos_before, y=after, mode="markers", name=f"{METHODS[key].name} pairs",
                                 marker=dict(color=color, size=6, opacity=0.8),
                                 hovertemplate="before %{x:.3f}<br>after %{y:.3f}<extra></extra>"), row=1, col=3)
    lo, hi = float(min(run.cos_before.min(), run.lora_cos_after.min())), float(max(run.cos_before.max(),
                                                                                   run.lora_cos_after.max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#999", dash="dash"),
                             showlegend=False, hoverinfo="skip"), row=1, col=3)
    for col in (1, 2):
        fig.update_xaxes(title="step", row=1, col=col)
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=col)
    fig.update_yaxes(title="Frobenius norm (log scale)", row=1, col=1)
    fig.update_yaxes(title="|Δ cos| (log scale)", row=1, col=2)
    fig.update_xaxes(title="cosine at step 0", row=1, col=3)
    fig.update_yaxes(title="cosine at the end", row=1, col=3)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return base_layout(fig, f"OFT (blocks of {run.block_size}) vs LoRA (r = {run.r}) on the same toy layer, "
                            f"same learning rate", height=460, top=fit_subplot_titles(fig, 14, size=12))
