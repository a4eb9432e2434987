"""In a real browser: start a short run in the lab, see the live chart grow, stop the run."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import assert_no_exception, screenshot, wait_for_app_idle

LOSS_POINTS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const curves = plots.find(p => (p.layout?.title?.text || '').includes('Training loss'));
    return curves && curves.data.length ? curves.data[0].x.length : 0;
}"""


@pytest.mark.e2e
def test_start_run_see_chart_update_and_stop(app_url, page):
    page.goto(f"{app_url}/lab")
    wait_for_app_idle(page, timeout_ms=180_000)
    main = page.locator('[data-testid="stMain"]')
    steps = main.get_by_label("Steps")
    steps.fill("60")
    steps.press("Enter")
    page.wait_for_timeout(800)  # let the new value reach the server
    wait_for_app_idle(page)
    main.locator(".st-key-lab_start button").first.click()

    # the live panel: a progress bar, then the loss curve gains points from one redraw to the next
    main.locator('[data-testid="stProgress"]').first.wait_for(timeout=300_000)
    page.wait_for_function(f"({LOSS_POINTS})() >= 1", timeout=300_000)
    first = page.evaluate(LOSS_POINTS)
    page.wait_for_function(f"({LOSS_POINTS})() > {first}", timeout=300_000)
    assert_no_exception(page, "lab while training")
    screenshot(page, "lab-running")

    main.locator(".st-key-lab_stop button").first.click()
    main.locator('[data-testid="stDataFrame"]').wait_for(timeout=300_000)  # results table of the stopped run
    wait_for_app_idle(page)
    expect(main.locator(".st-key-lab_stop button")).to_have_count(0, timeout=60_000)  # nothing runs any more
    expect(main.get_by_text("Stopped after").first).to_be_visible()
    assert main.get_by_text("Results of this session").count() == 1
    assert_no_exception(page, "lab after stop")
    main.get_by_text("Results of this session").scroll_into_view_if_needed()
    screenshot(page, "lab-stopped")
