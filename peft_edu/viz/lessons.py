"""Figures of the LoRA-family lessons (``peft_edu.lessons.lora`` and ``.lora_family``).

Pure functions: plain data in, ``go.Figure`` out. Frozen tensors grey/blue, trainable ones
warm (DESIGN.md, visual language); every chart has a title and labelled axes.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.registry import METHODS
from peft_edu.viz.matrices import FROZEN_DIVERGING, MOVING_COLOR, TRAINABLE_DIVERGING
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles, fmt_bytes, fmt_int

FULL_COLOR = "#444444"  # full fine-tuning, the baseline, in every comparison
ZERO_FLOOR = 1e-9  # singular values below this are drawn here (log axis) and marked as zero
RANK_COLORS = ["#f6c48f", "#f0a35e", TRAINABLE, "#b5481b", "#7a2e0e"]  # light -> dark: small -> large


def _steps(values) -> list[int]:
    return list(range(len(values)))


def spectrum_figure(target: np.ndarray, full: np.ndarray, lora: np.ndarray, r: int) -> go.Figure:
    """Singular values of ΔW: the task's, full fine-tuning's and LoRA's (at most r non-zero)."""
    fig = go.Figure()
    idx = list(range(1, len(full) + 1))
    for name, s, color, dash in (("target change ΔW*", target, "#999999", "dot"),
                                 ("full fine-tuning ΔW", full, FULL_COLOR, "solid"),
                                 (f"LoRA ΔW (r = {r})", lora, TRAINABLE, "solid")):
        shown = np.maximum(s, ZERO_FLOOR)
        fig.add_trace(go.Scatter(x=idx, y=shown.tolist(), mode="lines+markers", name=name,
                                 line=dict(color=color, dash=dash, width=3 if "LoRA" in name else 2),
                                 customdata=s.tolist(),
                                 hovertemplate="σ_%{x} = %{customdata:.3g}<extra>" + name + "</extra>"))
    fig.add_vline(x=r + 0.5, line=dict(color=TRAINABLE, dash="dash"),
                  annotation_text=f"r = {r}: LoRA's ΔW = B·A<br>has at most {r} non-zero", annotation_position="top right")
    fig.update_xaxes(title="index i of the singular value (largest first)", dtick=1)
    fig.update_yaxes(title="singular value σ_i (log scale; ≈0 drawn at 1e-9)", type="log", exponentformat="power")
    return base_layout(fig, "Singular values of the learned update ΔW", height=420)


def frozen_a_figure(steps: list[int], moved: dict[str, list[float]], loss_fa: list[float],
                    loss_lora: list[float]) -> go.Figure:
    """Left: how far A and B moved from their init (LoRA-FA and LoRA). Right: both losses."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("Distance from the initial value", "Training loss"))
    styles = {"A, LoRA-FA (frozen)": (FROZEN, "solid"), "B, LoRA-FA": (TRAINABLE, "solid"),
              "A, LoRA": ("#7a2e0e", "dot"), "B, LoRA": ("#f0a35e", "dot")}  # LoRA's A trains: warm
    for name, (color, dash) in styles.items():
        fig.add_trace(go.Scatter(x=steps, y=moved[name], mode="lines+markers", name=name,
                                 line=dict(color=color, dash=dash, width=3), marker=dict(size=5)), row=1, col=1)
    for name, curve, dash in (("loss, LoRA-FA", loss_fa, "solid"), ("loss, LoRA", loss_lora, "dot")):
        fig.add_trace(go.Scatter(x=_steps(curve), y=curve, mode="lines", name=name,
                                 line=dict(color=TRAINABLE, dash=dash, width=2)), row=1, col=2)
    fig.update_xaxes(title="optimizer step", tickformat=",d")
    fig.update_yaxes(title="‖X_t − X_0‖ (Frobenius norm)", row=1, col=1)
    fig.update_yaxes(title="mean squared error (log scale)", type="log", exponentformat="power", row=1, col=2)
    return base_layout(fig, "LoRA-FA: A never moves, only B learns", height=420, top=fit_subplot_titles(fig, 16))


def activation_figure(model: str, bytes_by_method: dict[str, float], batch: int, seq: int) -> go.Figure:
    """Activation memory of one training batch, per method (bars, GB)."""
    keys = list(bytes_by_method)
    values = [bytes_by_method[k] / 1e9 for k in keys]
    colors = [method_color(k, i) for i, k in enumerate(keys)]
    fig = go.Figure(go.Bar(x=[METHODS[k].name for k in keys], y=values, marker_color=colors,
                           text=[fmt_bytes(bytes_by_method[k]) for k in keys], textposition="outside"))
    fig.update_xaxes(title="method (adapting q, k, v, o and the MLP)")
    fig.update_yaxes(title="activation memory (GB)", rangemode="tozero")
    return base_layout(fig, f"Activations kept for backward: {model}, batch {batch} × {fmt_int(seq)} tokens, "
                            "16-bit", height=400)


def _vector_block(vectors: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([v.reshape(-1) for v in vectors.values()], axis=1)  # (len, n_layers)


def vera_figure(A: np.ndarray, B: np.ndarray, d: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> go.Figure:
    """The one shared random pair (frozen) and every layer's trained d and b (one column per layer)."""
    mats = [("B<br>shared,<br>frozen", B, FROZEN_DIVERGING), ("A<br>shared,<br>frozen", A, FROZEN_DIVERGING),
            ("d<br>trained", _vector_block(d), TRAINABLE_DIVERGING),  # a column per layer: short titles
            ("b<br>trained", _vector_block(b), TRAINABLE_DIVERGING)]  # fit its narrow column on a phone
    widths = [m.shape[1] + 2 for _, m, _ in mats]
    fig = make_subplots(rows=1, cols=len(mats), column_widths=widths, horizontal_spacing=0.05,
                        subplot_titles=[f"{t}<br>{m.shape[0]}×{m.shape[1]}" for t, m, _ in mats])
    for col, (title, m, scale) in enumerate(mats, start=1):
        zmax = float(np.abs(m).max()) or 1.0
        fig.add_trace(go.Heatmap(z=np.round(m, 4).tolist(), zmin=-zmax, zmax=zmax, colorscale=scale,
                                 showscale=False, xgap=1, ygap=1,
                                 hovertemplate=f"{title.split('<br>')[0]}[%{{y}}, %{{x}}] = %{{z:.4f}}<extra></extra>"),
                      row=1, col=col)
        xa = "x" if col == 1 else f"x{col}"
        fig.update_xaxes(row=1, col=col, showticklabels=col > 2, showgrid=False, constrain="domain",
                         title="layer" if col > 2 else ("r" if col == 1 else "d_in"), dtick=1)
        fig.update_yaxes(row=1, col=col, showticklabels=False, showgrid=False, autorange="reversed",
                         scaleanchor=xa, constrain="domain", title="d_out" if col in (1, 4) else "r")
    base_layout(fig, "VeRA: one frozen random pair for all layers; each layer trains only d and b", height=440,
                top=fit_subplot_titles(fig, 9, size=12))
    return fig


def delta_figure(runs) -> go.Figure:
    """Delta-LoRA at several λ: ‖W_t − W_0‖ (W has no gradient) and the loss."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("How far W moved (it gets no gradient)", "Training loss"))
    for color, run in zip(RANK_COLORS[1:] if len(runs) < 5 else RANK_COLORS, runs):
        label = f"λ = {run.lam:g}" + (" (plain LoRA)" if run.lam == 0 else "")
        fig.add_trace(go.Scatter(x=run.steps, y=run.w_moved, mode="lines", name=label,
                                 line=dict(color=color, width=3), legendgroup=label), row=1, col=1)
        fig.add_trace(go.Scatter(x=_steps(run.loss), y=run.loss, mode="lines", name=label, showlegend=False,
                                 line=dict(color=color, width=2), legendgroup=label), row=1, col=2)
    start = runs[0].start
    fig.add_vline(x=start, line=dict(color=MOVING_COLOR, dash="dash"), row=1, col=1,
                  annotation_text=f"K = {start}", annotation_position="top left")
    fig.update_xaxes(title="optimizer step", tickformat=",d")
    fig.update_yaxes(title="‖W_t − W_0‖ (Frobenius norm)", row=1, col=1)
    fig.update_yaxes(title="mean squared error (log scale)", type="log", exponentformat="power", row=1, col=2)
    return base_layout(fig, "Delta-LoRA: W starts moving at step K, by λ times the change of B·A", height=420,
                       top=fit_subplot_titles(fig, 16))


def ratio_figure(curves: dict[float, list[float]], lr: float) -> go.Figure:
    """LoRA+ loss curves for several learning-rate ratios lr(B) / lr(A)."""
    fig = go.Figure()
    ordered = sorted(curves.items())
    colors = RANK_COLORS[-len(ordered):] if len(ordered) <= len(RANK_COLORS) else None
    for i, (ratio, curve) in enumerate(ordered):
        color = FULL_COLOR if ratio == 1 else (colors[i] if colors else None)
        label = f"ratio {ratio:g}" + (" (plain LoRA)" if ratio == 1 else "")
        fig.add_trace(go.Scatter(x=_steps(curve), y=curve, mode="lines", name=label,
                                 line=dict(color=color, width=3 if ratio == 1 else 2)))
    fig.update_xaxes(title="optimizer step", tickformat=",d")
    fig.update_yaxes(title="training loss (mean squared error, log scale)", type="log", exponentformat="power")
    return base_layout(fig, f"LoRA+: lr(A) = {lr:g}, lr(B) = ratio × lr(A)", height=420)


def scaling_figure(runs) -> go.Figure:
    """rsLoRA lesson: ‖ΔW‖ after the run (left) and the final loss (right) against the rank."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("‖ΔW‖ after 10 steps", "final loss"))
    keys = list(dict.fromkeys(run.method for run in runs))
    for i, key in enumerate(keys):
        mine = [run for run in runs if run.method == key]
        ranks = [run.r for run in mine]
        style = dict(color=WARM[i % len(WARM)], width=2, dash="dash" if i else "solid")
        fig.add_trace(go.Scatter(x=ranks, y=[run.update_norm for run in mine], mode="lines+markers",
                                 name=METHODS[key].name, legendgroup=key, line=style), row=1, col=1)
        fig.add_trace(go.Scatter(x=ranks, y=[run.loss[-1] for run in mine], mode="lines+markers",
                                 name=METHODS[key].name, legendgroup=key, showlegend=False, line=style),
                      row=1, col=2)
    fig.update_xaxes(title="rank r (log scale)", type="log", tickvals=sorted({run.r for run in runs}))
    fig.update_yaxes(title="‖ΔW‖_F", row=1, col=1)
    fig.update_yaxes(title="MSE (log scale)", type="log", exponentformat="power", row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))  # below: the plots keep the width on a phone
    return base_layout(fig, "Same α and learning rate, rising rank: α/r vs α/√r", height=440,
                       top=fit_subplot_titles(fig, 16))


WARM = ("#f0a35e", "#9c3a12", "#d9682b")  # adapters train: warm shades, one per method drawn


def method_color(key: str, i: int) -> str:
    """Full fine-tuning in its own colour; the i-th adapter method in a warm shade."""
    return FULL_COLOR if METHODS[key].family == "baseline" else WARM[i % len(WARM)]


def magdir_figure(results) -> go.Figure:
    """DoRA paper, Fig. 2: mean direction change (x) vs mean magnitude change (y) along each run."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("Direction vs magnitude, along the run",
                                        "Magnitude change of each row, end of run"))
    for i, res in enumerate(results):
        name, color = METHODS[res.method].name, method_color(res.method, i)
        fig.add_trace(go.Scatter(x=res.d_dir, y=res.d_mag, mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=color, width=2), marker=dict(size=6),
                                 customdata=res.steps, hovertemplate="step %{customdata}: ΔD %{x:.4f}, "
                                                                     "ΔM %{y:.4f}<extra>" + name + "</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Bar(x=list(range(len(res.mag_change))), y=res.mag_change.tolist(), name=name,
                             marker_color=color, legendgroup=name, showlegend=False), row=1, col=2)
    fig.update_xaxes(title="ΔD: mean 1 − cos(W_row, W0_row)", row=1, col=1)
    fig.update_yaxes(title="ΔM: mean |‖W_row‖ − ‖W0_row‖| / ‖W0_row‖", row=1, col=1)
    fig.update_xaxes(title="output row of W", dtick=1, row=1, col=2)
    fig.update_yaxes(title="‖W_row‖ − ‖W0_row‖", row=1, col=2)
    fig.update_layout(barmode="group")
    return base_layout(fig, "DoRA: magnitude and direction of W's rows, vs LoRA and full fine-tuning",
                       height=440, top=fit_subplot_titles(fig, 16))


def magdir_scatter_figure(results) -> go.Figure:
    """DoRA paper, Fig. 2, on a real run: ΔD (x) against ΔM (y) of every layer at every
    checkpoint, one colour per method, with each method's least-squares line (slope in the legend)."""
    fig = go.Figure()
    apart = ("#444444", TRAINABLE, "#6a4c93")  # three hues a reader can tell apart, in the order given
    for i, res in enumerate(results):
        name = METHODS[res.method].name
        color = apart[i] if i < len(apart) else method_color(res.method, i)
        xs = np.array([p[2] for p in res.points])
        ys = np.array([p[3] for p in res.points])
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=f"{name}", legendgroup=name,
                                 marker=dict(color=color, size=7, opacity=0.75),
                                 customdata=[[p[0], p[1]] for p in res.points],
                                 hovertemplate="%{customdata[0]}, step %{customdata[1]}: ΔD %{x:.2e}, ΔM %{y:.2e}"
                                               "<extra>" + name + "</extra>"))
        intercept = float(np.mean(ys) - res.slope * np.mean(xs))
        line_x = np.array([xs.min(), xs.max()])
        fig.add_trace(go.Scatter(x=line_x, y=intercept + res.slope * line_x, mode="lines",
                                 name=f"{name}: slope {res.slope:.2f}", legendgroup=name,
                                 line=dict(color=color, width=2, dash="dash"), hoverinfo="skip"))
    fig.update_xaxes(title="ΔD: mean 1 − cos(W_row, W0_row)", exponentformat="power")
    fig.update_yaxes(title="ΔM: mean |‖W_row‖ − ‖W0_row‖|", exponentformat="power")
    return base_layout(fig, "ΔM against ΔD, every layer and checkpoint", height=460)
