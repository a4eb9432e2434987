"""Real-browser fixtures: one `streamlit run app.py` per test session, Debian's Chromium.

The server and browser helpers are in tests/server.py, what the tests do in a page in
tests/e2e/helpers.py. Without Chromium (or playwright) the e2e tests skip with a loud
reason; with CI=true a missing browser is a failure, not a skip.
"""
from __future__ import annotations

import pytest

from tests.server import CHROMIUM, CHROMIUM_ARGS, require_browser, running_app


@pytest.fixture(scope="session")
def app_server():
    """The app for the whole test session (a tests.server.Server: url, start time, process)."""
    require_browser()
    with running_app() as server:
        yield server


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(60_000)
    yield p
    context.close()


@pytest.fixture(scope="module")
def narrow_page(browser):
    """One 400 × 900 px tab (a phone's width) for a whole module: its tests visit pages in sequence."""
    context = browser.new_context(viewport={"width": 400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(60_000)
    yield p
    context.close()
