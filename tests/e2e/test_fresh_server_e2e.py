"""Each test starts its own fresh `streamlit run app.py`: what the first visitor sees."""
import time

import pytest

from tests.e2e.conftest import _require_browser, assert_no_exception, running_app, wait_for_app_idle

pytestmark = pytest.mark.e2e
SIDEBAR_READY = ("() => (document.querySelector('[data-testid=stSidebar]') || {}).innerText"
                 "?.includes('Compute device')")


def test_cold_start(browser):
    """Process start -> home page rendered in the browser (target < 5 s on this machine)."""
    _require_browser()
    with running_app("streamlit-cold-start.log") as (url, started):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        wait_for_app_idle(page)
        cold_start = time.monotonic() - started
        print(f"\nCOLD START (streamlit process start -> home page rendered): {cold_start:.2f} s")
        assert_no_exception(page, "home")
        assert page.locator("h1").first.inner_text() == "PEFT Lab"
        page.close()


def test_first_request_to_a_direct_link_uses_the_router(browser):
    """A first request to /calculator draws the page through app.py's router (sidebar with
    the device), not Streamlit's legacy pages/ mode that lists every file of pages/."""
    _require_browser()
    with running_app("streamlit-direct-link.log") as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/calculator")
        wait_for_app_idle(page)
        page.wait_for_function(SIDEBAR_READY)
        assert_no_exception(page, "calculator (first request)")
        assert page.locator("h1").first.inner_text().startswith("Parameter")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Home" in nav and "common" not in nav and "state" not in nav, nav
        page.close()
