"""What the e2e tests do in a page: wait for Streamlit, check for errors, take screenshots."""
from __future__ import annotations

from pathlib import Path

from tests.server import OUTPUT

SHOTS = OUTPUT / "screenshots"
EXCEPTION = '[data-testid="stException"]'
ANIMATION = '[data-testid="stPlotlyChart"]:visible'  # a method page's animation is its first Plotly chart shown (a phone
# layout of it is sent too, hidden at a desktop's width: ui/charts.py)


def wait_for_app_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has rendered the page and finished running its script."""
    page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=timeout_ms)
    page.wait_for_function(SCRIPT_DONE, timeout=timeout_ms)


# The app's own script state (Streamlit writes it on the stApp element): the header's status widget
# is not drawn on a narrow screen, so it alone cannot say that a run is still going at 400 px.
SCRIPT_DONE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.dataset.testScriptState;
    return state !== 'running' && state !== 'rerunRequested' && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


PAINTED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const running = app && ['running', 'rerunRequested'].includes(app.dataset.testScriptState);
    const busy = running || document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"]');
    const html = document.querySelector('[data-testid="stMain"]')?.innerHTML || '';
    const same = window.__lastMain === html;
    window.__lastMain = html;
    return !busy && same;
}"""


def wait_until_painted(page, timeout_ms: int = 120_000) -> None:
    """Until no script, fragment or spinner is running and the main area has not changed for one
    second: what a learner sees once the page has finished drawing (for screenshots)."""
    page.wait_for_function(PAINTED, polling=1000, timeout=timeout_ms)


def screenshot(page, name: str) -> Path:
    """test-output/screenshots/<name>.png, once the lazily loaded parts (KaTeX, the slider's code)
    have arrived: an idle script can still show their grey placeholders."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # imported here: collection needs no browser

    try:
        page.wait_for_load_state("networkidle", timeout=10_000)
    except PlaywrightTimeout:  # a picture of what is there is still worth having
        pass
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_exception(page, where: str) -> None:
    errors = page.locator(EXCEPTION)
    if errors.count():
        raise AssertionError(f"Streamlit exception on {where}: {errors.first.inner_text()[:2000]}")


def assert_router_page(page, path: str) -> None:
    """The page is drawn by app.py's router: the device in the sidebar, no 404 dialog."""
    assert_no_exception(page, path or "home")
    assert page.get_by_text("Page not found").count() == 0, f"/{path} is not a page of the app"
    assert "Compute device" in page.locator('[data-testid="stSidebar"]').inner_text()


def open_method(page, app_url: str, key: str) -> None:
    """Open the page of method ``key`` and wait until its animation is drawn and its script is done."""
    page.goto(f"{app_url}/{key}")
    wait_for_app_idle(page, timeout_ms=180_000)
    page.wait_for_selector(f"{ANIMATION} .main-svg", timeout=180_000)
    for _ in range(3):  # the script may still be running below the animation (first visit)
        page.wait_for_timeout(1000)
        wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, key)


def screenshot_whole_page(page, name: str, max_height: int = 12_000) -> Path:
    """Like ``screenshot``, but the window is made as tall as the page first: Streamlit scrolls
    inside its main area, so a full-page screenshot alone shows one window's height."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), max_height)})
    try:
        wait_until_painted(page)
        return screenshot(page, name)
    finally:
        page.set_viewport_size(size)
