"""A fresh server whose very first request is a direct link (/calculator) still draws the
page through app.py's router (sidebar with the device), not Streamlit's legacy pages/ mode."""
import pytest

from tests.e2e.conftest import _require_browser, assert_no_exception, running_app, wait_for_app_idle


@pytest.mark.e2e
def test_first_request_to_a_direct_link_uses_the_router(browser):
    _require_browser()
    with running_app("streamlit-direct-link.log") as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/calculator")
        wait_for_app_idle(page)
        page.wait_for_function(
            "() => (document.querySelector('[data-testid=stSidebar]') || {}).innerText"
            "?.includes('Compute device')")
        assert_no_exception(page, "calculator (first request)")
        assert page.locator("h1").first.inner_text().startswith("Parameter")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Home" in nav and "common" not in nav and "state" not in nav, nav
        page.close()
