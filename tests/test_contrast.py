"""Every chart on every page: its text at >= 4.5:1 contrast (WCAG 2.x, level AA for normal text).

The pages are opened through the real router (AppTest), and every ``plotly_chart`` element they
send is read back: its theme must be plotly's own (``theme=None``: Streamlit's theme would draw
ticks in a faded grey of its own), and every piece of text in its spec — the global font, axis
ticks and titles, legend, annotations (subplot titles too), trace text — is checked against what
it is drawn on (the plot's background, an annotation's box, or the bar it sits inside). The
contrast formula is WCAG's, written out here: relative luminance of sRGB, (L1 + 0.05)/(L2 + 0.05).
"""
from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ROOT

NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128), "grey": (128, 128, 128)}
PLOTLY_DEFAULT_TEXT, PLOTLY_DEFAULT_BG = "#444", "white"  # plotly.js's own defaults without a template


def rgba(color: str) -> tuple[float, float, float, float]:
    color = color.strip().lower()
    if color in NAMED:
        return (*NAMED[color], 1.0)
    if color.startswith("#"):
        h = color[1:]
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0
    m = re.fullmatch(r"rgba?\(([^)]*)\)", color)
    if m:
        parts = [float(p) for p in m.group(1).split(",")]
        return parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else 1.0
    raise AssertionError(f"colour {color!r}: not a form this test reads (hex, rgb(), rgba(), {sorted(NAMED)})")


def over(fg: str, bg: tuple[float, float, float]) -> tuple[float, float, float]:
    """``fg`` composited over an opaque ``bg`` (alpha blending)."""
    r, g, b, a = rgba(fg)
    return tuple(a * c + (1 - a) * d for c, d in zip((r, g, b), bg))


def luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_against_wcag_examples():
    white, black = (255, 255, 255), (0, 0, 0)
    assert contrast(white, black) == pytest.approx(21.0)
    assert contrast(white, white) == pytest.approx(1.0)
    assert contrast(rgba("#767676")[:3], white) == pytest.approx(4.54, abs=0.01)  # the lightest AA grey on white


def _get(d: dict, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def text_problems(spec: dict, where: str) -> list[str]:
    """Every text colour of one figure spec below 4.5:1 against what it is drawn on."""
    layout = spec.get("layout", {})
    tmpl = _get(layout, "template", "layout", default={})

    def pick(*paths, default=None):
        for p in paths:
            for source in (layout, tmpl):
                v = _get(source, *p)
                if v is not None:
                    return v
        return default

    paper = over(pick(("paper_bgcolor",), default=PLOTLY_DEFAULT_BG), (255, 255, 255))
    plot = over(pick(("plot_bgcolor",), default=PLOTLY_DEFAULT_BG), paper)
    base = pick(("font", "color"), default=PLOTLY_DEFAULT_TEXT)
    problems = []

    def check(color, bg, what):
        ratio = contrast(over(color, bg), bg)
        if ratio < 4.5:
            problems.append(f"{where}: {what} {color} at {ratio:.2f}:1")

    check(base, paper, "font")
    check(pick(("title", "font", "color"), default=base), paper, "title")
    for name in [k for k in layout if re.fullmatch(r"[xy]axis\d*", k)] or ["xaxis", "yaxis"]:
        axis = layout.get(name, {})
        kind = name.rstrip("0123456789")
        if axis.get("visible") is False or axis.get("showticklabels") is False:
            continue
        tick = _get(axis, "tickfont", "color") or _get(tmpl, kind, "tickfont", "color") or \
            _get(tmpl, kind, "color") or axis.get("color") or base
        check(tick, paper, f"{name} ticks")
        title = _get(axis, "title", "font", "color") or _get(tmpl, kind, "title", "font", "color") or tick
        check(title, paper, f"{name} title")
    if layout.get("showlegend", True) is not False:
        check(_get(layout, "legend", "font", "color") or base, paper, "legend")
    for i, note in enumerate(layout.get("annotations", [])):
        bg = over(note["bgcolor"], paper) if note.get("bgcolor") else paper
        check(_get(note, "font", "color") or _get(tmpl, "annotationdefaults", "font", "color") or base, bg,
              f"annotation {i} {str(note.get('text', ''))[:30]!r}")
    for trace in spec.get("data", []):
        mode = trace.get("mode", "")
        has_text = trace.get("text") not in (None, "", []) and (trace.get("type") == "bar" or "text" in mode
                                                                or trace.get("texttemplate"))
        if not has_text or trace.get("type") == "heatmap":
            continue
        color = _get(trace, "textfont", "color") or base
        colors = color if isinstance(color, list) else [color]
        bg = plot
        if trace.get("type") == "bar" and trace.get("textposition") == "inside":
            marker = _get(trace, "marker", "color")
            if isinstance(marker, str):
                opacity = trace.get("opacity", 1.0)
                r, g, b, a = rgba(marker)
                bg = over(f"rgba({r},{g},{b},{a * opacity})", plot)
        for c in colors:
            check(c, bg, f"{trace.get('type', 'scatter')} text ({trace.get('name', '')})")
    return problems


def _pages() -> list[str]:
    from peft_edu import METHODS
    from ui.nav import LESSON_PAGES, TOOL_PAGES

    return ["home", *LESSON_PAGES, *METHODS, *[p for p in TOOL_PAGES if p not in ("lab", "search")]]


def test_every_chart_on_every_page_has_readable_text():
    """The lab's and the search page's charts appear only after a run (their own tests draw them)."""
    from streamlit.testing.v1 import AppTest

    problems, charts = [], 0
    for url_path in _pages():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900).run()
        if url_path != "home":
            at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("url_pathname") == url_path)
            at.run()
        assert not at.exception, (url_path, at.exception)
        for element in at.get("plotly_chart"):
            charts += 1
            if element.proto.theme:
                problems.append(f"{url_path}: a chart with Streamlit's theme ({element.proto.theme!r}): use ui.charts.chart")
            problems += text_problems(json.loads(element.proto.spec), f"{url_path}/{element.proto.id[-12:]}")
    assert charts >= 40
    assert not problems, "\n".join(problems)
