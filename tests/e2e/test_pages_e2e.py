"""Open every page of the app in headless Chromium: no Streamlit exception, the router's
sidebar, a screenshot. (Method pages: test_method_e2e.py, which also plays an animation.)"""
from __future__ import annotations

import pytest

from tests.e2e.helpers import assert_router_page, screenshot, wait_for_app_idle

pytestmark = pytest.mark.e2e
PAGES = ["", "calculator", "lab", "compare", "quiz", "teacher"]  # "" is the home page (default)


@pytest.mark.parametrize("path", PAGES)
def test_page_opens_without_error(app_url, page, path):
    page.goto(f"{app_url}/{path}")
    wait_for_app_idle(page)
    assert_router_page(page, path)
    screenshot(page, f"page-{path or 'home'}")
