"""Figures of where methods sit inside a transformer: virtual tokens, adapters, (IA)³ vectors.

Pure functions over the plain data of ``peft_edu.lessons.virtual_tokens`` and
``peft_edu.lessons.blocks``; frozen parts grey/blue, trainable ones warm.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from peft_edu.registry import METHODS
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fit_subplot_titles, fmt_int

FROM_VIRTUAL = "#f6c48f"  # positions computed by frozen layers from the virtual tokens


def _row(y: str, n_virtual: int, n_real: int, virtual_color: str, virtual_label: str,
         offset: int = 0) -> list[go.Scatter]:
    """One row of squares: n_virtual virtual positions, then n_real real ones, from ``offset``."""
    cells = []
    if n_virtual:
        cells.append(go.Scatter(x=list(range(n_virtual)), y=[y] * n_virtual, mode="markers",
                                marker=dict(symbol="square", size=22, color=virtual_color,
                                            line=dict(color="white", width=1)),
                                name=virtual_label, legendgroup=virtual_label, showlegend=False,
                                hovertemplate=f"{y}<br>position %{{x}}: {virtual_label}<extra></extra>"))
    first = offset + n_virtual
    cells.append(go.Scatter(x=list(range(first, first + n_real)), y=[y] * n_real, mode="markers",
                            marker=dict(symbol="square", size=22, color=FROZEN, line=dict(color="white", width=1)),
                            name="real token", legendgroup="real", showlegend=False,
                            hovertemplate=f"{y}<br>position %{{x}}: real token<extra></extra>"))
    return cells


def token_flow_figure(flows) -> go.Figure:
    """One panel per method: the positions of the input and of every layer's keys/values."""
    fig = make_subplots(rows=1, cols=len(flows), horizontal_spacing=0.16,
                        subplot_titles=[f"{METHODS[f.method].name}: n = {f.n_tokens} virtual, T = {f.real_tokens} real"
                                        for f in flows])
    for col, f in enumerate(flows, start=1):
        prompt = f.input_len > f.real_tokens  # prompt tuning lengthens the input; prefix tuning does not
        rows = [("input embeddings", f.input_len - f.real_tokens, TRAINABLE, "trainable virtual token")]
        for i, (q, k) in enumerate(zip(f.queries, f.keys), start=1):
            if prompt:  # the virtual positions travel through the frozen layers
                rows.append((f"layer {i} keys/values", k - f.real_tokens, FROM_VIRTUAL,
                             "computed from the virtual tokens by frozen layers"))
            else:  # fresh trainable keys and values in every layer
                rows.append((f"layer {i} keys/values", k - q, TRAINABLE, "trainable virtual key/value"))
        for y, n_virtual, color, label in reversed(rows):
            # prefix tuning: draw the real tokens under their own keys (positions n..n+T-1)
            offset = f.keys[0] - f.real_tokens if not prompt and y == "input embeddings" else 0
            for trace in _row(y, n_virtual, f.real_tokens, color, label, offset):
                fig.add_trace(trace, row=1, col=col)
        width = max(g.keys[0] for g in flows) if flows else 1
        fig.update_xaxes(row=1, col=col, title="sequence position", range=[-1, width], dtick=1)
    for label, color in (("trainable virtual token / key / value", TRAINABLE),
                         ("computed from virtual tokens (frozen layers)", FROM_VIRTUAL), ("real token", FROZEN)):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label,
                                 marker=dict(symbol="square", size=14, color=color)))
    fig.update_yaxes(title="where in the model", row=1, col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return base_layout(fig, "Where the virtual tokens enter (lengths measured from the attention maps)", height=380,
                       top=fit_subplot_titles(fig, 18))


def soft_prompt_sizes_figure(rows, n_tokens: int) -> go.Figure:
    """Trainable parameters of prompt tuning, prefix tuning and LoRA r = 8 per model (log axis)."""
    models = [r.model for r in rows]
    fig = go.Figure()
    for name, attr, color in (("prompt tuning (n·d)", "prompt", FROM_VIRTUAL),
                              ("prefix tuning (n·L·2·d_kv)", "prefix", TRAINABLE),
                              ("LoRA r = 8 on q, v (for scale)", "lora", "#999999")):
        values = [getattr(r, attr) for r in rows]
        fig.add_trace(go.Bar(x=models, y=values, name=name, marker_color=color,
                             text=[fmt_int(v) for v in values], textposition="outside",
                             hovertemplate="%{x}: %{y:,} trainable<extra>" + name + "</extra>"))
    fig.update_xaxes(title="model (width d, layers L)", ticktext=[f"{r.model}<br>d={fmt_int(r.d_model)}, L={r.n_layers}"
                                                                 for r in rows], tickvals=models)
    fig.update_yaxes(title="trainable parameters (log scale)", type="log", exponentformat="power")
    fig.update_layout(barmode="group")
    return base_layout(fig, f"Trainable parameters at n = {n_tokens} virtual tokens", height=440)


def sequence_overhead_figure(seq_lens: list[int], percent: list[float], n_tokens: int) -> go.Figure:
    """Extra positions n / T as a share of the real sequence length."""
    fig = go.Figure(go.Scatter(x=seq_lens, y=percent, mode="lines+markers", line=dict(color=TRAINABLE, width=3),
                               hovertemplate="T = %{x:,}: +%{y:.1f}% positions<extra></extra>"))
    fig.update_xaxes(title="real sequence length T (tokens, log scale)", type="log", tickvals=seq_lens,
                     tickformat=",d")
    fig.update_yaxes(title="extra positions n / T (%)", rangemode="tozero")
    return base_layout(fig, f"Cost of n = {n_tokens} virtual tokens: prompt tuning in every layer, "
                            "prefix tuning in attention only", height=380)


KIND_WORD = {"linear": "linear", "norm": "LayerNorm", "adapter_down": "adapter down", "adapter_up": "adapter up",
             "scale": "(IA)³ scale"}


def block_figure(stages, title: str) -> go.Figure:
    """One transformer block top to bottom; each bar as wide as the step's output (trainable = warm)."""
    fig = go.Figure()
    labels = [f"{i + 1}. {s.name}" for i, s in enumerate(stages)]
    for trainable, color, name in ((False, FROZEN, "frozen"), (True, TRAINABLE, "trainable")):
        chosen = [(label, s) for label, s in zip(labels, stages) if s.trainable == trainable]
        if not chosen:
            continue
        fig.add_trace(go.Bar(
            y=[label for label, _ in chosen], x=[s.d_out for _, s in chosen],
            base=[-s.d_out / 2 for _, s in chosen], orientation="h", marker_color=color, name=name,
            text=[f"{KIND_WORD[s.kind]} {s.d_in}→{s.d_out} · {fmt_int(s.params)} params" for _, s in chosen],
            textposition=["inside" if s.d_out >= 200 else "outside" for _, s in chosen],
            insidetextanchor="middle", cliponaxis=False,
            hovertemplate="%{y}<br>%{text}<extra>" + name + "</extra>"))
    fig.update_yaxes(title="step of the block's forward pass", autorange="reversed", categoryorder="array",
                     categoryarray=labels)
    fig.update_xaxes(title="width of the step's output (features)", zeroline=True)
    fig.update_layout(barmode="overlay", bargap=0.25)
    return base_layout(fig, title, height=max(360, 42 * len(stages) + 120))


def ia3_figure(names: list[str], values: list[np.ndarray]) -> go.Figure:
    """Each trained (IA)³ vector, entries sorted: above 1 amplifies a feature, below 1 inhibits it."""
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True,
                        horizontal_spacing=0.02)
    for col, v in enumerate(values, start=1):
        s = np.sort(v)
        colors = [TRAINABLE if x >= 1 else "#6a4c93" for x in s]
        fig.add_trace(go.Bar(x=list(range(len(s))), y=(s - 1).tolist(), base=1, marker_color=colors,
                             customdata=s.tolist(), showlegend=False,
                             hovertemplate="l = %{customdata:.3f}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(row=1, col=col, title="feature (sorted)", showticklabels=False)
    fig.add_hline(y=1, line=dict(color=FROZEN, dash="dash"))
    fig.update_yaxes(title="scale l (1 = unchanged, the init)", row=1, col=1)
    return base_layout(fig, "(IA)³ after training: every feature's scale (orange amplifies, purple inhibits)",
                       height=400, top=fit_subplot_titles(fig, 7, size=12))  # one narrow column per vector
