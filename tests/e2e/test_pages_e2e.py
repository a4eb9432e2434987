"""Open every page of the app in headless Chromium; no Streamlit exception anywhere."""
from __future__ import annotations

import time

import pytest

from peft_edu import METHODS
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app_idle

PAGES = ["", *METHODS, "calculator", "lab", "compare", "quiz"]  # "" is the home page (default)


def test_cold_start_under_target(app_server, page):
    """Process start -> first page rendered in the browser (target < 5 s on 2 CPU cores)."""
    url, started = app_server
    page.goto(url)
    wait_for_app_idle(page)
    cold_start = time.monotonic() - started
    print(f"\nCOLD START (streamlit process start -> home page rendered): {cold_start:.2f} s")
    assert_no_exception(page, "home")
    assert "PEFT Lab" in page.title() or page.locator("h1").first.inner_text()


@pytest.mark.parametrize("path", PAGES)
def test_page_opens_without_error(app_url, page, path):
    page.goto(f"{app_url}/{path}")
    wait_for_app_idle(page)
    assert_no_exception(page, path or "home")
    # a wrong URL would open a "Page not found" dialog over the home page
    assert page.get_by_text("Page not found").count() == 0, f"/{path} is not a page of the app"
    # the sidebar shows the compute device on every page
    assert "Compute device" in page.locator('[data-testid="stSidebar"]').inner_text()
    screenshot(page, f"page-{path or 'home'}")
