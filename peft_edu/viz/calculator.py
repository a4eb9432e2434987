"""Figures of the calculator page: trainable parameters, memory by term, one layer; and its table.

Pure functions of ``peft_edu.sizing.estimate.MethodEstimate`` rows; no Streamlit here.

Speed: the page must redraw in under 100 ms after a slider move, and plotly's validation
of every property is most of a figure's cost (``add_hline``, ``update_layout`` and
templates validate again on each call). So each figure is one ``go.Figure(data, layout)``
of plain dicts built here, with validation off (``_validate=False``, as plotly's own JSON
reader does); tests/test_calculator_viz.py rebuilds every figure *with* validation to
prove the specs are valid. No template is set: Streamlit's chart theme styles the figures.
"""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.sizing.memory import GB
from peft_edu.viz.style import FROZEN, LINE_PX, TITLE_CHARS, TITLE_TOP_PX, TRAINABLE, fmt_bytes, fmt_int, n_lines, title_margin, wrap

TERM_COLORS = {  # frozen weights cool, everything that exists because something trains warm
    "Weights": FROZEN,
    "Gradients": TRAINABLE,
    "Optimizer states": "#f2a65a",
    "Activations": "#9aa5b1",
}


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, unvalidated (the tests validate it via ``go.Figure(fig.to_dict())``)."""
    return go.Figure(data=data, layout=layout, _validate=False)


def _layout(title: str, height: int, x_title: str | None, y_title: str | None, **extra) -> dict:
    """The app's common layout (as ``peft_edu.viz.style.base_layout``), as one dict."""
    title = wrap(title, TITLE_CHARS)  # a phone is 400 px wide; plotly never wraps a title
    height = height + LINE_PX * (n_lines(title) - 1)
    layout = dict(title=dict(text=title, y=1 - TITLE_TOP_PX / height, yref="container", yanchor="top"), height=height,
                  margin=dict(l=60, r=20, t=title_margin(title), b=50), font=dict(size=13), **extra)
    for axis, text in (("xaxis", x_title), ("yaxis", y_title)):
        if text:
            layout.setdefault(axis, {})["title"] = dict(text=text)
    return layout


def results_table(rows, gpu_sizes_gb=(24, 40, 80)) -> list[dict]:
    """The calculator's table: one record per method, numbers formatted for reading."""
    table = []
    for r in rows:
        c, m = r.counts, r.memory
        other = "Total without ckpt" if r.memory_other.activations > m.activations else "Total with ckpt"
        row = {"Method": r.name, "Trainable": fmt_int(c["trainable"]), "Share of model": f"{c['percent']:.3g} %",
               "Without head": fmt_int(c["trainable_without_head"]), "Adapter file": fmt_bytes(r.adapter_bytes),
               "Weights": fmt_bytes(m.weights), "Gradients": fmt_bytes(m.gradients),
               "Optimizer": fmt_bytes(m.optimizer), "Activations": fmt_bytes(m.activations),
               "Total": fmt_bytes(m.total), other: fmt_bytes(r.memory_other.total)}
        row.update({f"{gb} GB": "fits" if r.fits[gb] else "does not fit" for gb in gpu_sizes_gb})
        table.append(row)
    return table


def trainable_chart(rows) -> go.Figure:
    """Trainable parameters per method (log scale), with the share of the model on each bar."""
    names = [r.name for r in rows]
    values = [r.counts["trainable"] for r in rows]
    text = [f"{fmt_int(v)} ({r.counts['percent']:.3g} %)" for v, r in zip(values, rows)]
    bar = dict(type="bar", x=names, y=values, marker=dict(color=TRAINABLE), text=text, textposition="outside",
               cliponaxis=False, hovertemplate="%{x}: %{y:,} trainable parameters<extra></extra>")
    layout = _layout("Trainable parameters per method", 380, "method", "trainable parameters (log scale)",
                     yaxis=dict(type="log", tickformat=","))
    return _figure([bar], layout)


def memory_chart(rows, gpu_sizes_gb=(24, 40, 80)) -> go.Figure:
    """Peak training memory per method, stacked by term, against common GPU sizes (GB).

    The GPU lines drawn are those below the largest total and the smallest one above it."""
    names = [r.name for r in rows]
    data = [dict(type="bar", name=term, x=names, y=[r.memory.parts()[term] / GB for r in rows],
                 marker=dict(color=color), hovertemplate=f"%{{x}}<br>{term}: %{{y:,.2f}} GB<extra></extra>")
            for term, color in TERM_COLORS.items()]
    totals = [r.memory.total for r in rows]
    data.append(dict(type="scatter", x=names, y=[t / GB for t in totals], mode="text", showlegend=False,
                     text=[fmt_bytes(t) for t in totals], textposition="top center", hoverinfo="skip"))
    highest = max(totals) / GB
    shown = [gb for gb in sorted(gpu_sizes_gb) if gb < highest] + [gb for gb in sorted(gpu_sizes_gb) if gb >= highest][:1]
    top = max([highest] + shown) * 1.15  # up to the smallest GPU that holds every method: bars stay readable
    lines = [dict(type="line", xref="paper", x0=0, x1=1, y0=gb, y1=gb, line=dict(dash="dash", color="#444", width=1))
             for gb in shown]
    labels = [dict(xref="paper", x=0, y=gb, text=f"{gb} GB GPU", showarrow=False, xanchor="left",
                   yanchor="bottom", font=dict(size=11)) for gb in shown]
    layout = _layout("Training memory by term, against GPU sizes", 460, "method",
                     "peak training memory (GB = 10⁹ bytes)", barmode="stack", shapes=lines, annotations=labels,
                     legend=dict(orientation="h", y=-0.25), yaxis=dict(range=[0, top], tickformat=","))
    return _figure(data, layout)


def one_layer_chart(d_out: int, d_in: int, r: int) -> go.Figure:
    """W0 (d_out×d_in, frozen) beside B (d_out×r) and A (r×d_in), drawn to scale."""
    gap = max(d_in, d_out) * 0.15
    boxes = [  # (x0, y0, width, height, colour, label)
        (0, 0, d_in, d_out, FROZEN, f"W0 {fmt_int(d_out)}×{fmt_int(d_in)}<br>frozen:<br>{fmt_int(d_out * d_in)}"),
        (d_in + gap, 0, r, d_out, TRAINABLE, f"B<br>{fmt_int(d_out)}×{r}<br>trainable:<br>{fmt_int(d_out * r)}"),
        (d_in + 2 * gap + r, d_out - r, d_in, r, TRAINABLE,
         f"A<br>{r}×{fmt_int(d_in)}<br>trainable:<br>{fmt_int(r * d_in)}"),  # short lines: no overlap on a phone
    ]
    shapes = [dict(type="rect", x0=x0, y0=y0, x1=x0 + w, y1=y0 + h, fillcolor=c, line=dict(color=c, width=2),
                   opacity=0.85) for x0, y0, w, h, c, _ in boxes]
    labels = [dict(x=x0 + w / 2, y=-gap * 0.15, text=text, showarrow=False, yanchor="top", font=dict(size=12))
              for x0, y0, w, h, c, text in boxes]
    width = 2 * d_in + 2 * gap + r
    title = (f"One {fmt_int(d_out)}×{fmt_int(d_in)} layer at r = {r}: LoRA trains "
             f"{fmt_int(r * (d_in + d_out))} of {fmt_int(d_out * d_in)} (drawn to scale)")
    layout = _layout(title, 360, None, None, shapes=shapes, annotations=labels,
                     xaxis=dict(visible=False, range=[-gap * 0.2, width + gap * 0.2]),
                     yaxis=dict(visible=False, range=[-gap * 3.0, d_out + gap * 0.2], scaleanchor="x",
                                scaleratio=1))
    return _figure([], layout)
