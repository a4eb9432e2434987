"""Figures of the distributed page: measured runs and the multi-GPU calculator (plotly only).

Every figure takes plain numbers or the engine's records (``peft_edu.distributed``): the
measured bytes of real runs beside their formulas, the ring all-reduce drawn from the real
chunk sizes, and memory per rank or per GPU stacked by kind.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from peft_edu.distributed.formulas import ring_allreduce_bytes
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fmt_bytes, fmt_int

KIND_COLORS = {"Weights": FROZEN, "Gradients": TRAINABLE, "Optimizer states": "#f2a65a",
               "Activations": "#9b8bbf"}
COMM, COMPUTE = "#c0392b", "#7f8c8d"
GIB = 2 ** 30


def bytes_chart(runs: dict[str, dict]) -> go.Figure:
    """Bytes each rank sent per step, measured by the ring hook, beside 2(N−1)/N·K·bytes (log axis).

    ``runs``: label -> {"sent": measured bytes, "formula": bytes from the formula}."""
    labels = list(runs)
    fig = go.Figure([
        go.Bar(name="measured (ring hook)", x=labels, y=[runs[k]["sent"] for k in labels], marker_color=TRAINABLE,
               text=[fmt_bytes(runs[k]["sent"]) for k in labels], textposition="outside"),
        go.Bar(name="formula 2(N−1)/N · K · bytes", x=labels, y=[runs[k]["formula"] for k in labels],
               marker_color=FROZEN, text=[fmt_bytes(runs[k]["formula"]) for k in labels], textposition="outside"),
    ])
    base_layout(fig, "Gradient bytes each rank sends per step", 400)
    fig.update_layout(barmode="group", yaxis=dict(type="log", title="bytes per step (log scale)"),
                      xaxis_title="run", legend=dict(orientation="h", y=-0.2))
    return fig


def time_split_chart(runs: dict[str, dict]) -> go.Figure:
    """Mean step time split into compute and communication. ``runs``: label -> {"compute_s", "comm_s"}."""
    labels = list(runs)
    fig = go.Figure([
        go.Bar(name="compute (forward, backward, optimizer)", x=labels, y=[runs[k]["compute_s"] * 1e3 for k in labels],
               marker_color=COMPUTE),
        go.Bar(name="communication (all-reduce)", x=labels, y=[runs[k]["comm_s"] * 1e3 for k in labels],
               marker_color=COMM),
    ])
    base_layout(fig, "Where a step's time goes", 380)
    fig.update_layout(barmode="stack", yaxis_title="milliseconds per step", xaxis_title="run",
                      legend=dict(orientation="h", y=-0.2))
    return fig


def rank_memory_chart(measured: list[dict], formula: dict[str, float], title: str) -> go.Figure:
    """Parameter, gradient and optimizer-state bytes per rank (measured from its tensors), and the formula.

    ``measured``: one {"params", "grads", "optimizer"} per rank; ``formula``: the same keys."""
    names = [f"rank {i}" for i in range(len(measured))] + ["formula"]
    rows = [*measured, formula]
    kinds = (("params", "Weights"), ("grads", "Gradients"), ("optimizer", "Optimizer states"))
    fig = go.Figure([go.Bar(name=label, x=names, y=[r[key] / 1e6 for r in rows], marker_color=KIND_COLORS[label],
                            hovertemplate=f"%{{x}}<br>{label}: %{{y:,.3f}} MB<extra></extra>")
                     for key, label in kinds])
    base_layout(fig, title, 380)
    fig.update_layout(barmode="stack", yaxis_title="MB held (10⁶ bytes)", legend=dict(orientation="h", y=-0.2))
    return fig


def ring_figure(buckets: list[list[int]], n: int, bytes_per_value: int = 4) -> go.Figure:
    """A ring all-reduce over ``n`` ranks, one frame per step, from the chunk sizes a real run cut.

    ``buckets``: per DDP bucket, the values of each of its n chunks; chunk c of the figure is
    chunk c of every bucket together. Frames 1..N−1 are the reduce-scatter (each rank passes a
    partial sum on), N..2N−2 the all-gather (finished chunks go round)."""
    sizes = [sum(b[c] for b in buckets if len(b) == n) for c in range(n)]
    xs = [math.cos(2 * math.pi * i / n + math.pi / 2) for i in range(n)]
    ys = [math.sin(2 * math.pi * i / n + math.pi / 2) for i in range(n)]
    nodes = go.Scatter(x=xs, y=ys, mode="markers+text", text=[f"rank {i}" for i in range(n)], textposition="middle center",
                       marker=dict(size=70, color=FROZEN), textfont=dict(color="white"), showlegend=False, hoverinfo="skip")
    frames, steps = [], 2 * (n - 1)
    for s in range(steps):
        phase = "reduce-scatter: add the neighbour's partial sum" if s < n - 1 else "all-gather: pass the finished chunk on"
        arrows = []
        for r in range(n):
            c = (r - s) % n if s < n - 1 else (r + 1 - (s - n + 1)) % n
            arrows += _ring_arrow(xs, ys, r, (r + 1) % n, f"chunk {c}: {fmt_int(sizes[c])} values")
        title = f"Step {s + 1} of {steps} — {phase}"
        frames.append(go.Frame(name=str(s), layout=dict(annotations=arrows, title=dict(text=title))))
    fig = go.Figure(data=[nodes], frames=frames)
    total = sum(sizes)
    base_layout(fig, f"Ring all-reduce over {n} ranks<br><sup>{fmt_int(total)} gradient values in {len(buckets)} "
                     f"bucket(s): {fmt_bytes(ring_allreduce_bytes(total, n, bytes_per_value))} sent per rank</sup>", 440)
    fig.update_layout(
        annotations=frames[0].layout.annotations if frames else [],
        xaxis=dict(visible=False, range=[-1.6, 1.6]), yaxis=dict(visible=False, range=[-1.5, 1.5], scaleanchor="x"),
        updatemenus=[dict(type="buttons", x=0.0, y=-0.12, xanchor="left", yanchor="top", buttons=[
            dict(label="▶ Play", method="animate",
                 args=[None, dict(frame=dict(duration=1200, redraw=True), fromcurrent=True)])])],
        sliders=[dict(active=0, y=-0.02, x=0.15, len=0.85, steps=[
            dict(label=str(i + 1), method="animate", args=[[str(i)], dict(mode="immediate", frame=dict(redraw=True))])
            for i in range(len(frames))])],
    )
    return fig


def _ring_arrow(xs: list[float], ys: list[float], src: int, dst: int, text: str) -> list[dict]:
    """An arrow from rank ``src`` to rank ``dst``, shifted to its right so that the two directions
    between a pair of ranks (N = 2) stay apart, and its label beside it."""
    dx, dy = xs[dst] - xs[src], ys[dst] - ys[src]
    length = math.hypot(dx, dy) or 1.0
    px, py = dy / length * 0.12, -dx / length * 0.12  # to the right of the direction of travel
    x0, y0 = xs[src] + dx * 0.3 + px, ys[src] + dy * 0.3 + py
    x1, y1 = xs[src] + dx * 0.7 + px, ys[src] + dy * 0.7 + py
    arrow = dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                 arrowhead=3, arrowwidth=3, arrowcolor=TRAINABLE, text="")
    label = dict(x=(x0 + x1) / 2 + px * 2.2, y=(y0 + y1) / 2 + py * 2.2, xref="x", yref="y", showarrow=False,
                 text=text, font=dict(size=11), xanchor="left" if px > 0.01 else "right" if px < -0.01 else "center")
    return [arrow, label]


def per_gpu_chart(rows, gpu_sizes_gb=(24, 40, 80, 141)) -> go.Figure:
    """Memory per GPU for each method of the multi-GPU calculator, stacked by kind, against GPU sizes."""
    names = [r.name for r in rows]
    data = [go.Bar(name=kind, x=names, y=[r.parts()[kind] / 1e9 for r in rows], marker_color=color,
                   hovertemplate=f"%{{x}}<br>{kind}: %{{y:,.2f}} GB<extra></extra>")
            for kind, color in KIND_COLORS.items()]
    fig = go.Figure(data)
    highest = max(r.total_bytes for r in rows) / 1e9
    shown = [gb for gb in gpu_sizes_gb if gb < highest] + [gb for gb in gpu_sizes_gb if gb >= highest][:1]
    for gb in shown:
        fig.add_hline(y=gb, line_dash="dash", line_color="#444", line_width=1,
                      annotation_text=f"{gb} GB GPU", annotation_position="top left")
    base_layout(fig, "Memory per GPU by kind (GB = 10⁹ bytes)", 440)
    fig.update_layout(barmode="stack", yaxis=dict(title="GB per GPU", range=[0, max([highest, *shown]) * 1.15]),
                      xaxis_title="method", legend=dict(orientation="h", y=-0.25))
    return fig


def stages_chart(by_stage: dict[str, list[float]]) -> go.Figure:
    """Model states per GPU (GiB) at ZeRO stages 0-3 for each method: what sharding buys, method by method."""
    stages = ["DDP", "ZeRO-1", "ZeRO-2", "ZeRO-3 / FSDP"]
    fig = go.Figure([go.Bar(name=name, x=stages, y=values, text=[f"{v:,.2f}" for v in values], textposition="outside")
                     for name, values in by_stage.items()])
    base_layout(fig, "Model states per GPU at each ZeRO stage (GiB, no activations)", 400)
    fig.update_layout(barmode="group", yaxis_title="GiB per GPU", xaxis_title="sharding",
                      legend=dict(orientation="h", y=-0.2))
    return fig
