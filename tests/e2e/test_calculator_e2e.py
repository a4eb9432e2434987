"""The calculator in a real browser: a shared link renders the configured numbers, a slider
move rewrites the URL, and a broken link shows messages instead of a traceback."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from peft_edu import count
from tests.e2e.helpers import assert_no_exception, screenshot, wait_for_app_idle

pytestmark = pytest.mark.e2e
SHARED = "calculator?model=roberta-base&methods=full,lora,vera,qlora&r=8&vera_r=1024&targets=q,v&batch=16&seq=256"


def test_shared_link_shows_paper_and_our_counts(app_url, page):
    page.goto(f"{app_url}/{SHARED}")
    wait_for_app_idle(page)
    assert_no_exception(page, "calculator")
    page.get_by_text("Training memory by term").first.wait_for()
    body = page.locator('[data-testid="stMainBlockContainer"]').inner_text()  # table cells are a canvas
    assert "294,912" in body and "0.3M" in body  # LoRA paper, Table 2
    assert "43,008" in body and "0.043M" in body  # VeRA paper, Table 2
    screenshot(page, "calculator-roberta")
    for name, text in (("results", "Results"), ("charts", "Trainable parameters per method"),
                       ("memory-terms", "How each memory term is computed"), ("one-layer", "One layer")):
        page.get_by_text(text, exact=True).first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        screenshot(page, f"calculator-roberta-{name}")


def test_slider_move_updates_the_url(app_url, page):
    page.goto(f"{app_url}/{SHARED}")
    wait_for_app_idle(page)
    slider = page.get_by_role("slider").first  # "Rank r (LoRA family)", the first slider
    slider.focus()
    slider.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('r') === '9'")
    wait_for_app_idle(page)
    assert_no_exception(page, "calculator after a slider move")
    assert parse_qs(urlparse(page.url).query)["r"] == ["9"]
    charts = " ".join(page.locator(".js-plotly-plot").all_text_contents())  # SVG labels of the bars
    lora = count("roberta-base", "lora", r=9, targets="query,value")
    assert lora["trainable_without_head"] == 331_776  # 12 layers · 2 matrices · 9 · (768 + 768)
    assert f"{lora['trainable']:,}" in charts  # the bar label: with the trained classifier head


def test_broken_link_gives_messages_not_a_traceback(app_url, page):
    page.goto(f"{app_url}/calculator?model=gpt-5&r=-3&methods=magic&seq=0")
    wait_for_app_idle(page)
    assert_no_exception(page, "calculator with a broken link")
    body = page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    assert "unknown model" in body and "out of range" in body and "unknown method" in body
    assert "Traceback" not in body
    screenshot(page, "calculator-bad-url")
