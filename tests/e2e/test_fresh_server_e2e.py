"""Each test starts its own fresh `streamlit run app.py`: what the first visitor sees."""
import re
import time

import pytest

from tests.e2e.helpers import (assert_no_exception, assert_router_page, screenshot, screenshot_whole_page,
                               wait_for_app_idle, wait_until_painted)
from tests.server import require_browser, running_app

pytestmark = pytest.mark.e2e
SIDEBAR_READY = ("() => (document.querySelector('[data-testid=stSidebar]') || {}).innerText"
                 "?.includes('Compute device')")
DESKTOP, PHONE = {"width": 1400, "height": 1000}, {"width": 400, "height": 860}


def test_cold_start(browser):
    """Process start -> home page rendered in the browser (target < 5 s on this machine)."""
    require_browser()
    with running_app("streamlit-cold-start.log") as server:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(server.url)
        wait_for_app_idle(page)
        cold_start = time.monotonic() - server.started
        print(f"\nCOLD START (streamlit process start -> home page rendered): {cold_start:.2f} s")
        assert_no_exception(page, "home")
        assert page.locator("h1").first.inner_text() == "PEFT Lab"
        page.close()


@pytest.mark.parametrize("path, heading", [
    ("vera", "VeRA"),  # a method page (a function page of the router, no script of its own)
    ("lab", "Live fine-tune lab"),
    ("calculator", "Parameter & memory calculator"),
])
def test_first_request_to_a_direct_link_shows_that_page(browser, path, heading):
    """A shared link is the first request a new server gets: it must draw that page inside
    app.py's router (its sidebar sections and the device), not a "Page not found" dialog
    and not the page script alone. (With the scripts in a pages/ folder, as at fb5a251,
    Streamlit started in its legacy multipage mode and a first request to /vera got "Page
    not found"; the scripts now live in app_pages/.)"""
    require_browser()
    with running_app(f"streamlit-fresh-{path}.log") as server:
        page = browser.new_page(viewport=DESKTOP)
        page.set_default_timeout(120_000)
        page.goto(f"{server.url}/{path}")
        wait_for_app_idle(page, timeout_ms=120_000)
        page.wait_for_function(SIDEBAR_READY)
        assert_router_page(page, path)  # no exception, no "Page not found", the device in the sidebar
        assert page.locator("h1").first.inner_text().startswith(heading)
        nav = page.locator('[data-testid="stSidebarNav"]')
        more = nav.get_by_text(re.compile(r"^View \d+ more$"))  # the router's long list is folded
        if more.count():
            more.first.click()
        text = nav.inner_text()
        assert all(section in text for section in ("Start", "Methods", "Tools", "Quiz")), text
        assert all(title in text for title in ("Home", "VeRA", "Live fine-tune lab", "Compare methods")), text
        wait_until_painted(page)  # the calculator's count and the method's animation too
        screenshot(page, f"fresh-{path}-desktop")
        page.close()

        phone = browser.new_page(viewport=PHONE)  # the same server, a phone-wide window
        phone.set_default_timeout(120_000)
        phone.goto(f"{server.url}/{path}")
        wait_for_app_idle(phone, timeout_ms=120_000)
        assert_no_exception(phone, f"{path} at 400 px")
        assert phone.locator("h1").first.inner_text().startswith(heading)
        wait_until_painted(phone)
        screenshot(phone, f"fresh-{path}-400px")
        screenshot_whole_page(phone, f"fresh-{path}-400px-whole")
        phone.close()
