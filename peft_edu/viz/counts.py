"""The method page's bar of trainable share: trainable (warm) next to frozen (grey/blue).

One layout for every width: each bar's name and its counts are written above the bar (not as
tick labels beside it, which would take half of a phone's width), so nothing is drawn inside a
bar that can be too thin for it.
"""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fmt_int, n_lines, title_margin, wrap

LABEL_CHARS = 44  # one line of a bar's label at 12 px in a 400 px phone's plot area
BAR_PX, LINE_PX = 34, 17  # a bar's thickness and one line of its label above it


def _label(row) -> str:
    counts = f"<b>{fmt_int(row.trainable)}</b> trainable ({row.share:.2f} %) · {fmt_int(row.frozen)} frozen"
    return f"<b>{wrap(row.label, LABEL_CHARS)}</b><br>{wrap(counts, LABEL_CHARS)}"


def share_bar(rows, title: str = "Trainable share of the parameters") -> go.Figure:
    """Horizontal 100 % bars, one per ``peft_edu.lessons.counts.CountRow``: trainable, then frozen,
    each bar's name and counts above it."""
    labels = [_label(r) for r in rows]
    slots = [BAR_PX + LINE_PX * n_lines(t) + 18 for t in labels]  # pixels per bar with its label above it
    plot_px = sum(slots)
    tops = [sum(slots[:i + 1]) - BAR_PX for i in range(len(rows))]  # each bar at the bottom of its slot
    centers = [t + BAR_PX / 2 for t in tops]
    names = [r.label for r in rows]
    fig = go.Figure()  # y in pixels from the top of the plot area, so a label sits exactly on its bar
    fig.add_trace(go.Bar(y=centers, x=[r.share for r in rows], orientation="h", name="trainable", width=BAR_PX,
                         marker_color=TRAINABLE, customdata=names,
                         hovertemplate="%{customdata}<br>trainable: %{x:.3f} %<extra></extra>"))
    fig.add_trace(go.Bar(y=centers, x=[100.0 - r.share for r in rows], orientation="h", name="frozen",
                         width=BAR_PX, marker_color=FROZEN, opacity=0.35, customdata=names,
                         hovertemplate="%{customdata}<br>frozen: %{x:.3f} %<extra></extra>"))
    notes = [dict(text=label, x=0, xref="paper", xanchor="left", y=top, yref="y", yanchor="bottom", yshift=3,
                  showarrow=False, align="left", font=dict(size=12, color="#1f1f1f"))
             for label, top in zip(labels, tops)]
    fig.update_layout(barmode="stack", showlegend=False, annotations=notes)
    fig.update_xaxes(title=wrap("share of the parameters (%): orange = trainable, grey-blue = frozen", LABEL_CHARS),
                     range=[0, 100], ticksuffix=" %", title_font=dict(size=12), fixedrange=True)
    fig.update_yaxes(range=[plot_px, 0], showticklabels=False, showgrid=False, zeroline=False, title=None,
                     fixedrange=True)
    base_layout(fig, title, height=int(plot_px) + 150)
    fig.update_layout(margin=dict(l=20, r=20, t=title_margin(fig.layout.title.text) + 10, b=90))
    return fig
