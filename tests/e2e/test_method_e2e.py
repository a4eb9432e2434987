"""Method pages in a real browser: the animation plays, and every method page renders.

Screenshots land in test-output/screenshots/method-<key>.png (and the animation before/after Play).
"""
from __future__ import annotations

import re

import pytest

from peft_edu import METHODS
from tests.e2e.conftest import SHOTS, assert_no_exception, screenshot, wait_for_app_idle
from tests.e2e.test_pages_e2e import assert_router_page

pytestmark = pytest.mark.e2e
ANIMATION = '[data-testid="stPlotlyChart"]'


def open_method(page, app_url: str, key: str) -> None:
    """Open a method page through the app (a deep link as the very first request of a fresh
    server shows Streamlit's "Page not found" dialog before the navigation exists)."""
    page.goto(f"{app_url}/{key}")
    wait_for_app_idle(page, timeout_ms=180_000)
    if page.get_by_text("Page not found").count():
        page.keyboard.press("Escape")
        page.goto(f"{app_url}/{key}")
    wait_for_app_idle(page, timeout_ms=180_000)
    page.wait_for_selector(f"{ANIMATION} .main-svg", timeout=180_000)
    for _ in range(3):  # the script may still be running below the animation (first visit)
        page.wait_for_timeout(1000)
        wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, key)


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
