"""Every page at 400 × 900 px (a phone) in a real browser, and the app's own text at >= 4.5:1.

One browser context visits the pages in sequence (``narrow_page`` in conftest.py) and asks of
each what a learner at that width needs:

- no Streamlit exception, the page's h1 visible and inside the window;
- no horizontal scroll of the page (nor of Streamlit's main area, which is what scrolls);
- every plotly chart shown no wider than the window (a figure sent in a desktop and a phone layout
  shows the phone one), and its title and annotations (subplot titles
  are annotations) inside the chart's box, no two of them overlapping;
- the sidebar collapsed, its "open" button inside the window;
- every visible text of the page (not the charts' SVG: tests/test_contrast.py checks their
  specs) at >= 4.5:1 against its effective background (>= 3:1 for large text, WCAG 2.x 1.4.3),
  computed in the page from the browser's computed colours (CONTRAST_JS, the WCAG formula).

Screenshots: test-output/screenshots/narrow-<page>.png (the first screen) and
narrow-<page>-chart<i>.png (each chart, as drawn at this width).
"""
from __future__ import annotations

import pytest

from peft_edu import METHODS
from tests.e2e.helpers import SHOTS, assert_no_exception, screenshot, wait_for_app_idle
from ui.nav import LESSON_PAGES, TOOL_PAGES

pytestmark = pytest.mark.e2e
# Every page, the 21 method pages too: their figures come in a desktop and a phone layout (ui/charts.py),
# and the style sheet shows the phone one here.
PAGES = ["home", *LESSON_PAGES, *METHODS, *TOOL_PAGES, "quiz", "teacher"]
WIDTH, HEIGHT = 400, 900

SETTLED_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && ['running', 'rerunRequested'].includes(app.dataset.testScriptState)) return false;
    if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"]')) return false;
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(c => c.checkVisibility());
    if (!charts.every(c => c.querySelector('.svg-container .main-svg'))) return false;
    const sign = charts.length + ':' + document.querySelectorAll('[data-testid="stElementContainer"]').length;
    const same = window.__narrowSign === sign;
    window.__narrowSign = sign;
    return same;
}"""

LAYOUT_JS = """() => {
    const vw = window.innerWidth, box = e => e.getBoundingClientRect();
    const main = document.querySelector('[data-testid="stMain"]');
    const h1 = document.querySelector('[data-testid="stMainBlockContainer"] h1');
    const sidebar = document.querySelector('[data-testid="stSidebar"]');
    const toggle = document.querySelector('[data-testid="stExpandSidebarButton"]');
    const out = {vw, pageScroll: document.scrollingElement.scrollWidth,
                 mainScroll: main.scrollWidth, mainClient: main.clientWidth,
                 h1: h1 && {text: h1.textContent, visible: h1.checkVisibility(), left: box(h1).left, right: box(h1).right},
                 sidebarCollapsed: sidebar && sidebar.dataset.collapsed,
                 toggle: toggle && {visible: toggle.checkVisibility(), left: box(toggle).left, right: box(toggle).right,
                                    top: box(toggle).top, bottom: box(toggle).bottom},
                 charts: []};
    for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
        if (!chart.checkVisibility()) continue;  // the desktop layout of a figure sent in both (ui/charts.py)
        const svg = chart.querySelector('.svg-container'), b = box(svg);
        const texts = [...svg.querySelectorAll('.gtitle, .annotation-text')].map(t => {
            const r = box(t);
            return {text: t.textContent.slice(0, 70), left: r.left, right: r.right, top: r.top, bottom: r.bottom};
        }).filter(t => t.right > t.left);
        out.charts.push({left: b.left, right: b.right, top: b.top, bottom: b.bottom, width: b.width,
                         outer: box(chart).width, texts});
    }
    return out;
}"""

CONTRAST_JS = """() => {
    // WCAG 2.x: relative luminance of sRGB, (L1 + 0.05) / (L2 + 0.05); colours composited by alpha.
    const parse = c => {
        let m = c.match(/^rgba?\\(([^)]*)\\)$/);
        if (m) { const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
                 return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
        m = c.match(/^color\\(srgb ([^)]*)\\)$/);
        if (m) { const p = m[1].split(/[ \\/]+/).filter(Boolean).map(Number);
                 return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
        return null;
    };
    const over = (fg, bg) => [0, 1, 2].map(i => fg[3] * fg[i] + (1 - fg[3]) * bg[i]);
    const lum = rgb => { const ch = rgb.map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                         return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]; };
    const ratio = (a, b) => { const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x); return (hi + 0.05) / (lo + 0.05); };
    const background = el => {  // the backgrounds from el up to the first opaque one, composited over white
        const layers = [], r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
        for (let e = el; e; e = e.parentElement) {
            const b = e.getBoundingClientRect();  // an ancestor the text is drawn outside of (a slider's thumb) is not behind it
            if (e !== document.body && e !== document.documentElement && (x < b.left || x > b.right || y < b.top || y > b.bottom)) continue;
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        return layers.reverse().reduce((bg, c) => over(c, bg), [255, 255, 255]);
    };
    const opacity = el => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
    const seen = new Set(), fails = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!el || seen.has(el) || !n.textContent.trim()) continue;
        seen.add(el);
        if (el.closest('svg, script, style, noscript, [aria-hidden="true"], :disabled, [aria-disabled="true"]')) continue;
        if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || r.right <= 0 || r.left >= window.innerWidth) continue;  // off-screen: a closed sidebar
        const st = getComputedStyle(el), fg = parse(st.color);
        if (!fg) continue;
        const bg = background(el), a = fg[3] * opacity(el), got = ratio(over([fg[0], fg[1], fg[2], a], bg), bg);
        const px = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
        const need = (px >= 24 || (bold && px >= 18.66)) ? 3 : 4.5;
        if (got < need) {
            const where = el.closest('[data-testid]');
            fails.push({text: n.textContent.trim().slice(0, 50), ratio: Math.round(got * 100) / 100, need,
                        color: st.color, bg: 'rgb(' + bg.map(Math.round).join(',') + ')', px,
                        tag: el.tagName.toLowerCase(), testid: where ? where.dataset.testid : ''});
        }
    }
    return fails;
}"""


def _path(name: str) -> str:
    return "" if name == "home" else name


def _overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1 and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1


def layout_problems(m: dict) -> list[str]:
    """What LAYOUT_JS measured that a learner at this width could not use (1 px for rounding)."""
    vw, problems = m["vw"], []
    if m["pageScroll"] > vw + 1:
        problems.append(f"the page scrolls sideways: {m['pageScroll']} px wide in a {vw} px window")
    if m["mainScroll"] > m["mainClient"] + 1:
        problems.append(f"the main area scrolls sideways: {m['mainScroll']} px in {m['mainClient']} px")
    h1 = m["h1"]
    if not h1 or not h1["visible"] or h1["left"] < -1 or h1["right"] > vw + 1:
        problems.append(f"the page's h1 is not visible inside the window: {h1}")
    if m["sidebarCollapsed"] != "true":
        problems.append(f"the sidebar is not collapsed (data-collapsed={m['sidebarCollapsed']})")
    t = m["toggle"]
    if not t or not t["visible"] or t["left"] < 0 or t["right"] > vw or t["top"] < 0 or t["bottom"] > HEIGHT:
        problems.append(f"the sidebar's open button is not reachable: {t}")
    for i, c in enumerate(m["charts"]):
        if c["outer"] > vw + 1 or c["left"] < -1 or c["right"] > vw + 1:
            problems.append(f"chart {i} is {c['width']:.0f} px wide, at {c['left']:.0f}..{c['right']:.0f}")
        for t in c["texts"]:
            if t["left"] < c["left"] - 1 or t["right"] > c["right"] + 1 or t["top"] < c["top"] - 1 \
                    or t["bottom"] > c["bottom"] + 1:
                problems.append(f"chart {i}: {t['text']!r} runs out of the chart "
                                f"(x {t['left'] - c['left']:.0f}..{t['right'] - c['left']:.0f} of {c['width']:.0f} px, "
                                f"y {t['top'] - c['top']:.0f}..{t['bottom'] - c['top']:.0f} of {c['bottom'] - c['top']:.0f} px)")
        texts = c["texts"]
        for j, a in enumerate(texts):
            for b in texts[j + 1:]:
                if _overlap(a, b):
                    problems.append(f"chart {i}: {a['text']!r} overlaps {b['text']!r}")
    return problems


def open_narrow(page, url: str) -> None:
    """Open ``url`` and wait until the script is done and every chart is drawn (stable for a poll)."""
    page.goto(url)
    wait_for_app_idle(page, timeout_ms=180_000)
    page.evaluate("() => { window.__narrowSign = null; }")
    page.wait_for_function(SETTLED_JS, polling=500, timeout=180_000)


@pytest.mark.parametrize("name", PAGES)
def test_page_at_400px(app_url, narrow_page, name):
    page = narrow_page
    open_narrow(page, f"{app_url}/{_path(name)}")
    assert_no_exception(page, f"{name} at {WIDTH} px")
    screenshot(page, f"narrow-{name}")
    m = page.evaluate(LAYOUT_JS)
    charts = page.locator('[data-testid="stPlotlyChart"]:visible')
    for i in range(charts.count()):
        charts.nth(i).screenshot(path=str(SHOTS / f"narrow-{name}-chart{i}.png"))
    problems = layout_problems(m)
    problems += [f"text {f['text']!r} ({f['tag']} in {f['testid']}, {f['px']} px) at {f['ratio']}:1 < {f['need']}:1: "
                 f"{f['color']} on {f['bg']}" for f in page.evaluate(CONTRAST_JS)]
    assert not problems, f"{name} at {WIDTH} px:\n" + "\n".join(problems)


def test_sidebar_opens_at_400px(app_url, narrow_page):
    """The collapsed sidebar's button opens it: the page list and the device are reachable."""
    page = narrow_page
    open_narrow(page, f"{app_url}/")
    page.locator('[data-testid="stExpandSidebarButton"]').click()
    sidebar = page.locator('[data-testid="stSidebar"]')
    page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]').dataset.collapsed === 'false'")
    page.get_by_text("Compute device").first.wait_for(state="visible")
    assert sidebar.get_by_role("link", name=METHODS["lora"].name).first.is_visible()
    screenshot(page, "narrow-sidebar-open")
