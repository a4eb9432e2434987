"""The phone layouts of the method pages' figures (ui/charts.py sends them beside the desktop ones).

Checked from the figures' own geometry, against what a 400 px screen needs: one number is one
square of the same size in every matrix, rows of at most two matrices that fit the phone's
plot width, titles that fit their slot, panels stacked without overlap, labels above their bar.
The browser's view of the same pages is tests/e2e/test_narrow_e2e.py.
"""
from __future__ import annotations

import pytest
from plotly.subplots import make_subplots
import plotly.graph_objects as go

from peft_edu.lessons.counts import page_counts
from peft_edu.lessons.explainer import knob_of, page_run
from peft_edu.viz.counts import BAR_PX, LABEL_CHARS, share_bar
from peft_edu.viz.grid import title_px
from peft_edu.viz.matrices import LEGEND_CHARS, PHONE_WIDTH, tensor_animation
from peft_edu.viz.narrow import stacked
from peft_edu.viz.style import visible_len

METHODS = ["lora", "ln_tuning", "relora", "dora"]  # two to six matrices, vectors, long dotted names


@pytest.fixture(scope="module", params=METHODS)
def phone(request):
    run = page_run(request.param, knob_of(request.param).default)
    return run, tensor_animation(run, "t", phone=True), tensor_animation(run, "t")


def _matrices(fig, run):
    n = len(run.tensors)
    out = []
    for i in range(1, n + 1):
        x, y = fig.layout[f"xaxis{i}"].domain, fig.layout[f"yaxis{i}"].domain
        rows, cols = run.frames[0][run.tensors[i - 1].name].shape
        out.append((x, y, rows, cols))
    return out


def test_every_number_is_the_same_square_and_fits_the_phone(phone):
    run, fig, _ = phone
    plot_h = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    widths, heights = [], []
    for (x0, x1), (y0, y1), rows, cols in _matrices(fig, run):
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        widths.append((x1 - x0) * PHONE_WIDTH / cols)
        heights.append((y1 - y0) * plot_h / rows)
    assert max(widths) - min(widths) < 1e-6 * max(widths)  # one square size in every matrix
    assert max(heights) == pytest.approx(min(heights), rel=1e-6)
    assert widths[0] == pytest.approx(heights[0], rel=0.02)  # squares, not rectangles


def test_rows_of_at_most_two_that_do_not_overlap(phone):
    run, fig, desktop = phone
    bands = {}
    for (x0, x1), (y0, y1), _, _ in _matrices(fig, run):
        bands.setdefault(y1, []).append((x0, x1, y0))  # matrices of a row hang from the same top
    assert all(len(row) <= 2 for row in bands.values())
    tops = sorted(bands, reverse=True)
    for upper, lower in zip(tops, tops[1:]):
        assert min(y0 for *_, y0 in bands[upper]) > lower  # the next row starts below this one's bottom
    for row in bands.values():
        row.sort()
        assert all(a[1] < b[0] for a, b in zip(row, row[1:]))  # side by side, apart
    desktop_tops = {desktop.layout[f"yaxis{i}"].domain[1] for i in range(1, len(run.tensors) + 1)}
    assert len(desktop_tops) == 1  # the desktop keeps one row


def test_titles_fit_their_slot_and_the_colour_key_its_lines(phone):
    run, fig, _ = phone
    n = len(run.tensors)
    titles = [a for a in fig.layout.annotations[:n]]
    per_row = {}
    for t in titles:
        per_row.setdefault(round(t.y, 9), []).append(t)
    for row in per_row.values():
        for t in row:
            assert title_px(t.text) <= PHONE_WIDTH / len(row)
    key = next(a.text for a in fig.layout.annotations if a.text.startswith("Colours"))
    assert all(visible_len(line) <= LEGEND_CHARS[1] for line in key.split("<br>"))
    slider, menu = fig.layout.sliders[0], fig.layout.updatemenus[0]
    assert slider.x == 0 and slider.len == 1 and slider.y < menu.y  # a full-width line under the buttons
    assert len(fig.frames) == len(run.steps)


def _three_panels():
    fig = make_subplots(rows=1, cols=3, subplot_titles=("left", "middle", "right"))
    for col in (1, 2, 3):
        fig.add_trace(go.Scatter(x=[0, 1, 2], y=[col, col * 2, col * 3]), row=1, col=col)
        fig.update_xaxes(title=f"x of {col}", row=1, col=col)
    fig.add_trace(go.Heatmap(z=[[1, 2], [3, 4]], colorbar=dict(x=1.02, y=0.5, len=1.0)), row=1, col=3)
    fig.update_layout(height=400, margin=dict(t=80, b=60), title=dict(text="T", y=1 - 28 / 400, yref="container"))
    return fig


def test_stacked_puts_each_panel_under_the_last_with_its_title_and_data():
    fig = _three_panels()
    out = stacked(fig)
    lay = out.layout
    assert [lay[k].domain for k in ("xaxis", "xaxis2", "xaxis3")] == [(0, 1)] * 3
    ys = [lay[k].domain for k in ("yaxis", "yaxis2", "yaxis3")]
    assert ys[0][0] > ys[1][1] and ys[1][0] > ys[2][1]  # top to bottom, in the original order, apart
    for note, (lo, hi) in zip(out.layout.annotations, ys):  # each subplot title over its own panel
        assert note.x == pytest.approx(0.5) and note.y == pytest.approx(hi)
    assert [t.y for t in out.data] == [t.y for t in fig.data]  # the numbers are the figure's own
    bar = out.data[3].colorbar
    assert ys[2][0] - 1e-9 <= bar.y <= ys[2][1] and bar.len == pytest.approx(ys[2][1] - ys[2][0])
    plot_h = lay.height - lay.margin.t - lay.margin.b
    assert plot_h > 3 * 200  # each panel gets a phone's full width and a real height
    assert (1 - lay.title.y) * lay.height == pytest.approx(28)  # the title stays 28 px from the top
    assert fig.layout.xaxis2.domain != (0, 1)  # the desktop figure is untouched


def test_stacked_leaves_a_single_panel_alone():
    fig = go.Figure(go.Scatter(x=[1], y=[2]))
    assert stacked(fig).layout.height == fig.layout.height


@pytest.mark.parametrize("key", ["lora", "prompt_tuning", "full"])
def test_share_bar_labels_sit_just_above_their_bar(key):
    rows = page_counts(key, knob_of(key).default)
    fig = share_bar(rows)
    centers = list(fig.data[0].y)
    for row, note, center in zip(rows, fig.layout.annotations, centers):
        assert note.y == pytest.approx(center - BAR_PX / 2) and note.yanchor == "bottom"
        assert all(visible_len(line) <= LABEL_CHARS for line in note.text.split("<br>"))
        assert f"{row.trainable:,}" in note.text and f"{row.frozen:,}" in note.text
    for upper, lower, note in zip(centers, centers[1:], fig.layout.annotations[1:]):
        assert lower - upper >= BAR_PX + 15 * (note.text.count("<br>") + 1)  # the next label fits between two bars
    shares = list(fig.data[0].x)
    assert shares == pytest.approx([r.share for r in rows])
    assert [a + b for a, b in zip(shares, fig.data[1].x)] == pytest.approx([100.0] * len(rows))


def test_the_app_style_sheet_holds_the_charts_width_rule():
    """app.py writes ui.charts' rule out as a constant (st.html only draws constants): the two agree,
    so the browser's width shows exactly one layout of each figure."""
    import ast

    from tests.conftest import ROOT
    from ui.charts import NARROW_CSS, PHONE, WIDE

    calls = [node for node in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and ast.unparse(node.func) == "st.html"]
    assert len(calls) == 1
    style = calls[0].args[0].value
    assert NARROW_CSS in style
    assert f"st-key-{WIDE}" in NARROW_CSS and f"st-key-{PHONE}" in NARROW_CSS
