"""The method page's bar of trainable share: trainable (warm) next to frozen (grey/blue)."""
from __future__ import annotations

import plotly.graph_objects as go

from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fmt_int, title_margin


def _label(row) -> dict:
    """The trainable count beside its (often very thin) bar, or inside it when it is wide."""
    inside = row.share > 45  # two short lines: they fit beside a bar up to 45 % of a phone's plot
    return dict(x=row.share - 1 if inside else row.share + 1, y=row.label, showarrow=False,
                xanchor="right" if inside else "left", font=dict(color="#1f1f1f"),  # 5.3:1 on the orange bar, 16:1 beside it
                text=f"<b>{fmt_int(row.trainable)}</b> trainable<br>({row.share:.2f} %)")


def share_bar(rows, title: str = "Trainable share of the parameters") -> go.Figure:
    """Horizontal 100 % bars, one per ``peft_edu.lessons.counts.CountRow``: trainable, then frozen."""
    labels = [r.label for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=[r.share for r in rows], orientation="h", name="trainable",
                         marker_color=TRAINABLE, hovertemplate="%{y}<br>trainable: %{x:.3f} %<extra></extra>"))
    fig.add_trace(go.Bar(y=labels, x=[100.0 - r.share for r in rows], orientation="h", name="frozen",
                         marker_color=FROZEN, opacity=0.35,
                         text=[f"{fmt_int(r.frozen)} frozen" if r.frozen else "" for r in rows],
                         textposition="inside", insidetextanchor="end",
                         hovertemplate="%{y}<br>frozen: %{x:.3f} %<extra></extra>"))
    fig.update_layout(barmode="stack", bargap=0.35, annotations=[_label(r) for r in rows],
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title="share of the parameters (%)", range=[0, 100], ticksuffix=" %")
    fig.update_yaxes(autorange="reversed", title=None)
    base_layout(fig, title, height=170 + 55 * len(rows))
    fig.update_layout(margin=dict(l=20, r=20, t=title_margin(fig.layout.title.text) + 10, b=50))
    return fig
