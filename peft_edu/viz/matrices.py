"""The method pages' animation: a method's real tensors during a tiny training run.

One row of heat maps (each matrix at its true shape, one square per number) above a loss
curve; frames step through the recorded snapshots, with play/pause and a step slider.
Frozen tensors use a grey-to-blue scale, trainable ones a purple-to-orange scale with 0 in
white, so "what trains" is visible at a glance (DESIGN.md, visual language).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from peft_edu.viz.grid import matrix_row
from peft_edu.viz.style import FROZEN, TRAINABLE, base_layout, fmt_int, n_lines, title_margin, wrap

# Signed values: negative on the left end, 0 white in the middle, positive on the right end.
FROZEN_DIVERGING = [[0.0, "#7a7a7a"], [0.5, "#f7f7f7"], [1.0, "#2b5c8a"]]  # grey ↔ blue
TRAINABLE_DIVERGING = [[0.0, "#6a4c93"], [0.5, "#fbf7f2"], [1.0, TRAINABLE]]  # purple ↔ orange
MOVING_COLOR = "#b5489b"  # tensors that change without a gradient (Delta-LoRA's W)
ROLE_COLOR = {"frozen": FROZEN, "trainable": TRAINABLE, "delta": TRAINABLE, "moving": MOVING_COLOR}
ROLE_WORD = {"frozen": "frozen", "trainable": "trainable", "delta": "from trainables", "moving": "no gradient, moves"}
ROLE_SCALE = {"frozen": FROZEN_DIVERGING, "trainable": TRAINABLE_DIVERGING,
              "delta": TRAINABLE_DIVERGING, "moving": FROZEN_DIVERGING}


def _round(a: np.ndarray) -> list:
    """Four significant decimals keep the figure's JSON small without visible change."""
    return np.round(a.astype(np.float64), 4).tolist()  # lists: frames do not decode typed arrays


def _zmax(run, name: str) -> float:
    """One colour range per tensor for the whole run, so growth is visible (not rescaled)."""
    peak = max(float(np.abs(frame[name]).max()) for frame in run.frames)
    return peak if peak > 0 else 1.0


def _changes(run, name: str) -> bool:
    return any(not np.array_equal(run.frames[0][name], f[name]) for f in run.frames[1:])


def _heatmap(run, view, frame: dict, zmax: float) -> go.Heatmap:
    a = frame[view.name]
    return go.Heatmap(
        z=_round(a), zmin=-zmax, zmax=zmax, zmid=0.0, colorscale=ROLE_SCALE[view.role],
        showscale=False, xgap=1, ygap=1, name=view.name,
        hovertemplate=f"{view.name}[%{{y}}, %{{x}}] = %{{z:.4f}}<extra></extra>",
    )


def _subplot_title(view, shape: tuple[int, ...], chars: int | None = None) -> str:
    """'<b>B</b>' over 'trainable · 16×4'; on a phone (``chars``: a line's characters) the name is
    wrapped and the role and the shape take a line each."""
    color = ROLE_COLOR[view.role]
    role = f"<span style='color:{color}'>{ROLE_WORD[view.role]}</span>"
    if chars is None:
        return f"<b>{view.title}</b><br>{role} · {shape[0]}×{shape[1]}"
    return f"<b>{_wrap_name(view.title, chars)}</b><br>{role}<br>{shape[0]}×{shape[1]}"


def _wrap_name(name: str, chars: int) -> str:
    """``wrap`` that may also break a long dotted name after a dot (attention.output.LayerNorm)."""
    mark = "\u200b"
    lines = wrap(name.replace(".", f".{mark} "), chars).split("<br>")
    return "<br>".join(line.replace(f".{mark} ", ".").replace(mark, "") for line in lines)


def _dim_label(name: str, n: int) -> str:
    """'d_in = 24'; a vector's single column is just '1'."""
    return str(n) if name == str(n) else f"{name} = {n}"


def _matrix_axes(i: int, view, shape: tuple[int, ...], x: tuple[float, float],
                 y: tuple[float, float]) -> dict:
    """Layout of matrix i's axes: true aspect ratio, row 0 at the top, a frame in its role's colour."""
    frame = dict(showgrid=False, zeroline=False, showticklabels=False, linecolor=ROLE_COLOR[view.role],
                 mirror=True, showline=True, linewidth=3, constrain="domain", fixedrange=True)
    xaxis = dict(frame, domain=list(x), anchor=f"y{i}",
                 title=dict(text=_dim_label(view.cols, shape[1]), font=dict(size=11), standoff=10))
    yaxis = dict(frame, domain=list(y), anchor=f"x{i}", autorange="reversed", scaleanchor=f"x{i}",
                 scaleratio=1, constraintoward="top",
                 title=dict(text=_dim_label(view.rows, shape[0]), font=dict(size=11), standoff=10))
    return {f"xaxis{i}": xaxis, f"yaxis{i}": yaxis}


def _loss_traces(run, upto: int) -> list[go.Scatter]:
    steps = list(range(len(run.loss)))
    return [
        go.Scatter(x=steps[: upto + 1], y=run.loss[: upto + 1], mode="lines", name="loss so far",
                   line=dict(color=TRAINABLE, width=3), hovertemplate="step %{x}: loss %{y:.4f}<extra></extra>"),
        go.Scatter(x=[upto], y=[run.loss[upto]], mode="markers", name="current step",
                   marker=dict(color=TRAINABLE, size=11, line=dict(color="white", width=2)),
                   hoverinfo="skip"),
    ]


SPEEDS = (("▶ Play", 180), ("▶ Slow", 600), ("▶ Fast", 60))  # (button, ms per frame)
SLIDER_PX = 48  # on a phone the slider sits on its own line, this far under the buttons


def _controls(steps: list[int], plot_px: float, phone: bool = False) -> tuple[list[dict], list[dict]]:
    """Play/Pause/Slow/Fast buttons and the step slider under the loss panel: side by side on a
    desktop; on a phone the slider takes a full-width line of its own under the buttons."""
    below = -55 / plot_px  # under the loss axis' title, in fractions of the plot height
    plays = [dict(label=label, method="animate",
                  args=[None, {"frame": {"duration": ms, "redraw": True}, "fromcurrent": True,
                               "transition": {"duration": 0}, "mode": "immediate"}]) for label, ms in SPEEDS]
    pause = dict(label="❚❚ Pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}])
    menus = [dict(type="buttons", direction="left", x=0.0, y=below, xanchor="left", yanchor="top",
                  showactive=False, buttons=[plays[0], pause, *plays[1:]], pad=dict(r=8, t=8),
                  font=dict(color="#1f1f1f"))]
    slider_steps = [dict(label=fmt_int(s), method="animate",
                         args=[[str(s)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                                          "transition": {"duration": 0}}]) for s in steps]
    x, length, y = (0.0, 1.0, below - SLIDER_PX / plot_px) if phone else (0.42, 0.58, below + 10 / plot_px)
    sliders = [dict(active=0, steps=slider_steps, x=x, len=length, y=y, yanchor="top",
                    currentvalue=dict(prefix="optimizer step: ", font=dict(size=13)),
                    pad=dict(t=30, b=10))]
    return menus, sliders


LOSS_PX, GAP_PX, TOP_PX, BOTTOM_PX = 190, 95, 105, 150  # loss panel, gap, title and controls
AXIS_TITLE_PX, TITLE_LINE_PX = 34, 16  # phone, between two rows: the upper row's axis titles, a title line
PHONE_WIDTH = 300.0  # plot area of a 400 px phone: Streamlit's padding and the figure's margins taken off
PHONE_PER_ROW = 2  # matrices per row on a phone
PHONE_TITLE_CHARS = 16  # one line of a subplot title in a phone's half-width slot
PHONE_MAX_HEIGHT = 200.0  # px of a phone's tallest matrix (a desktop's: grid.matrix_row's 330)


MIN_CELL_PX = 4.0  # a phone's row holds a second matrix only if both still get squares this large


def _pack(shapes, titles, width: float, per_row: int) -> list[list[int]]:
    """Matrices in order, up to ``per_row`` a row, a row closed when the next one would not fit."""
    from peft_edu.viz.grid import AXIS_PX, GAP_PX, title_px

    groups, used = [], width + 1
    for i, ((_, cols), title) in enumerate(zip(shapes, titles)):
        need = max(cols * MIN_CELL_PX + AXIS_PX, title_px(title)) + GAP_PX
        if groups and len(groups[-1]) < per_row and used + need <= width:
            groups[-1].append(i)
            used += need
        else:
            groups.append([i])
            used = need
    return groups


def _rows(views, shapes, titles, width: float, per_row: int | None) -> list[tuple[list[int], object]]:
    """The matrices in rows (all in one row, or ``per_row`` a row), every row with the same
    square size: the smallest any row needs, so one number is one square everywhere."""
    n = len(views)
    groups = [list(range(n))] if not per_row else _pack(shapes, titles, width, per_row)
    tall = dict(max_height=PHONE_MAX_HEIGHT) if per_row else {}
    rows = [matrix_row([shapes[i] for i in g], [titles[i] for i in g], width=width, **tall) for g in groups]
    if len(rows) > 1:
        cell = min(r.cell for r in rows)
        rows = [matrix_row([shapes[i] for i in g], [titles[i] for i in g], width=width, max_cell=cell, **tall)
                for g in groups]
    return list(zip(groups, rows))


def tensor_animation(run, title: str, width: float = 1150.0, phone: bool = False) -> go.Figure:
    """Animated figure of ``run`` (a ``peft_edu.lessons.Run``): tensors on top, loss below.

    Every number is a square of the same size across all matrices (``viz.grid``), laid out for
    a plot area about ``width`` pixels wide (Streamlit's wide layout). ``phone=True`` lays the
    same figure out for a 400 px screen: two matrices a row, titles wrapped, the step slider on
    a line of its own (``ui.charts.chart`` sends both and the browser's width picks one)."""
    views = list(run.tensors)
    shapes = [run.frames[0][v.name].shape for v in views]
    titles = [_subplot_title(v, s, PHONE_TITLE_CHARS if phone else None) for v, s in zip(views, shapes)]
    if phone:
        width = PHONE_WIDTH
    rows = _rows(views, shapes, titles, width, PHONE_PER_ROW if phone else None)
    lines = [max(n_lines(titles[i]) for i in group) for group, _ in rows]
    gaps = [0.0] + [AXIS_TITLE_PX + TITLE_LINE_PX * n + 6 for n in lines[1:]]  # above each row
    matrices_px = sum(r.height for _, r in rows) + sum(gaps)
    plot_px = matrices_px + GAP_PX + LOSS_PX
    fig = go.Figure()
    zmax = {v.name: _zmax(run, v.name) for v in views}
    notes, axes, top_px = [], {}, 0.0  # top_px: from the plot area's top down to the current row
    for (group, row), gap in zip(rows, gaps):
        top_px += gap
        hi, lo = 1 - top_px / plot_px, 1 - (top_px + row.height) / plot_px
        for k, i in enumerate(group):
            view, shape, n = views[i], shapes[i], i + 1
            fig.add_trace(_heatmap(run, view, run.frames[0], zmax[view.name]).update(xaxis=f"x{n}", yaxis=f"y{n}"))
            y = tuple(lo + (hi - lo) * f for f in row.y[k])
            axes.update(_matrix_axes(n, view, shape, row.x[k], y))
            notes.append(dict(text=titles[i], x=row.centers[k], y=hi, xref="paper", yref="paper",
                              xanchor="center", yanchor="bottom", yshift=6, showarrow=False, font=dict(size=12)))
        top_px += row.height
    _add_loss(fig, run, len(views) + 1, LOSS_PX / plot_px, axes, notes, phone)
    legend_px = 110 + (SLIDER_PX + 75 if phone else 0)  # under the buttons (and a phone's slider and its ticks)
    legend = _legend(views, -legend_px / plot_px, LEGEND_CHARS[phone])
    notes.append(legend)
    _add_frames(fig, run, views, zmax)
    menus, sliders = _controls(run.steps, plot_px, phone)
    fig.update_layout(updatemenus=menus, sliders=sliders, showlegend=False, annotations=notes, **axes)
    bottom = BOTTOM_PX + (legend_px - 110) + 16 * (n_lines(legend["text"]) - 1)  # the legend's extra lines
    base_layout(fig, title, height=int(plot_px + TOP_PX + bottom))
    top = TOP_PX + title_margin(fig.layout.title.text) - title_margin("")  # a wrapped title's extra lines
    top += TITLE_LINE_PX * max(lines[0] - 2, 0)  # a phone's first subplot titles of more than two lines
    fig.update_layout(height=int(plot_px + top + bottom), margin=dict(l=40, r=20, t=top, b=bottom))
    return fig


LEGEND_CHARS = (56, 46)  # one line of the colour key at 12 px: left of a desktop's slider, a phone's plot area


def _legend(views, y: float, chars: int) -> dict:
    """One line under the controls saying what each colour of the figure means."""
    roles = list(dict.fromkeys(v.role for v in views))
    scale = {"frozen": "grey ↔ blue", "trainable": "purple ↔ orange", "delta": "purple ↔ orange",
             "moving": "grey ↔ blue, outlined"}
    parts = [f"<span style='color:{ROLE_COLOR[r]}'>■</span> {ROLE_WORD[r]}: {scale[r]}" for r in roles]
    text = wrap("Colours: " + " · ".join(parts) + " · white = 0 · each tensor keeps one colour range for the whole run",
                chars)
    return dict(text=text, x=0.0, y=y, xref="paper", yref="paper", xanchor="left", yanchor="top",
                showarrow=False, font=dict(size=12, color="#1f1f1f"), align="left")


def at_frame(fig: go.Figure, index: int) -> go.Figure:
    """A still copy of an animation figure at frame ``index`` (for keyboard stepping: a
    Streamlit slider picks the frame, the page draws this)."""
    still = go.Figure(fig)
    frame = still.frames[index]
    for trace_index, data in zip(frame.traces, frame.data):
        still.data[trace_index].update(data)
    if still.layout.sliders:
        still.layout.sliders[0].active = index
    return still


def _add_loss(fig: go.Figure, run, i: int, top: float, axes: dict, notes: list, phone: bool = False) -> None:
    """The loss panel (axes x{i}, y{i}): the whole run in grey, the run so far in orange. Its title
    and the dashed line's key side by side, or on a phone the key on a line under the title."""
    ref = dict(xaxis=f"x{i}", yaxis=f"y{i}")
    fig.add_trace(go.Scatter(x=list(range(len(run.loss))), y=run.loss, mode="lines", name="whole run",
                             line=dict(color="#cccccc", width=2), hoverinfo="skip", **ref))
    for trace in _loss_traces(run, run.steps[0]):
        fig.add_trace(trace.update(**ref))
    if run.reference_loss:  # after the two animated traces, so the frames' trace indices stay
        fig.add_trace(go.Scatter(x=list(range(len(run.reference_loss))), y=run.reference_loss, mode="lines",
                                 name=run.reference_label, line=dict(color="#555555", width=2, dash="dash"),
                                 hovertemplate=f"{run.reference_label}, step %{{x}}: %{{y:.3g}}<extra></extra>",
                                 **ref))
        notes.append(dict(text=f"dashed: {run.reference_label}", x=1.0, y=top, xref="paper", yref="paper",
                          xanchor="right", yanchor="bottom", yshift=4, showarrow=False,
                          font=dict(size=11, color="#555555")))
    n = len(run.loss) - 1
    positive = [v for v in (*run.loss, *run.reference_loss) if v > 0]
    decades = np.log10(max(positive) / min(positive)) if positive else 0.0
    axes[f"xaxis{i}"] = dict(domain=[0, 1], anchor=f"y{i}", title="optimizer step", tickformat=",d",
                             range=[-0.01 * n, 1.01 * n])
    axes[f"yaxis{i}"] = dict(domain=[0, top], anchor=f"x{i}", title=run.loss_label, type="log",
                             exponentformat="power",
                             **({"dtick": 1} if decades > 1.5 else {"tickformat": ".2g"}))
    shift = 4 + (17 if phone and run.reference_loss else 0)  # a phone: above the dashed line's key
    notes.append(dict(text="Training loss (log scale)", x=0.5, y=top, xref="paper", yref="paper",
                      xanchor="center", yanchor="bottom", yshift=shift, showarrow=False, font=dict(size=13)))


def _add_frames(fig: go.Figure, run, views, zmax: dict[str, float]) -> None:
    """Each frame replaces only what changes: the moving tensors and the two loss traces."""
    moving = [i for i, v in enumerate(views) if _changes(run, v.name)]
    loss_idx = [len(views) + 1, len(views) + 2]
    frames = []
    for step, frame in zip(run.steps, run.frames):
        data = [_heatmap(run, views[i], frame, zmax[views[i].name]) for i in moving]
        data += _loss_traces(run, step)
        frames.append(go.Frame(data=data, traces=moving + loss_idx, name=str(step)))
    fig.frames = frames
