"""Method pages in a real browser: the animation plays, and every method page renders.

Screenshots land in test-output/screenshots/method-<key>.png (and the animation before/after Play).
"""
from __future__ import annotations

import re

import pytest

from peft_edu import METHODS
from tests.e2e.helpers import ANIMATION, SHOTS, assert_router_page, open_method, screenshot

pytestmark = pytest.mark.e2e


def current_step(chart) -> int:
    """The number in the animation's slider label "optimizer step: N"."""
    text = chart.locator(".slider-label").first.text_content()
    return int(re.sub(r"\D", "", text))


def test_animation_plays(app_url, page):
    open_method(page, app_url, "lora")
    chart = page.locator(ANIMATION).first
    chart.scroll_into_view_if_needed()
    assert current_step(chart) == 0
    screenshot(page, "method-lora-animation-before-play")
    chart.locator(".updatemenu-item-text", has_text="Play").click()  # the text sits on top of the button
    page.wait_for_function(  # the slider label advances as frames play
        """() => { const t = document.querySelector('[data-testid="stPlotlyChart"] .slider-label');
                   return t && !/: 0$/.test(t.textContent.trim()); }""", timeout=30_000)
    page.wait_for_timeout(1500)
    assert current_step(chart) > 0
    chart.locator(".updatemenu-item-text", has_text="Pause").click()
    screenshot(page, "method-lora-animation-after-play")


@pytest.mark.parametrize("key", list(METHODS))
def test_method_page_screenshot(app_url, page, key):
    open_method(page, app_url, key)
    assert page.locator(ANIMATION).count() >= 2  # the animation and the share bar
    assert METHODS[key].name in page.locator("h1").first.inner_text()
    assert_router_page(page, key)
    screenshot(page, f"method-{key}")
    page.locator(ANIMATION).first.screenshot(path=str(SHOTS / f"method-{key}-animation.png"))
    page.locator(ANIMATION).nth(1).screenshot(path=str(SHOTS / f"method-{key}-share.png"))
