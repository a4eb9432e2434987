"""In a real browser: the Semantic search lab runs a short fine-tune and its metrics table
shows the base model's and the tuned model's retrieval, which differ; screenshots at desktop
width and at 400 px."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import assert_no_exception, screenshot, screenshot_whole_page, wait_for_app_idle

TABLE = '[data-testid="stTable"]'


def _rows(page) -> dict[str, list[str]]:
    """The metrics table as {metric: [base, tuned, change]}."""
    rows = page.locator(f"{TABLE} tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()]
        out[cells[0]] = cells[1:]
    return out


@pytest.mark.e2e
def test_short_fine_tune_changes_the_metrics_table(app_url, page):
    page.goto(f"{app_url}/search")
    wait_for_app_idle(page, timeout_ms=180_000)
    main = page.locator('[data-testid="stMain"]')
    assert main.locator(TABLE).count() == 0  # no run yet: no table
    steps = main.get_by_label("Steps")
    steps.fill("12")
    steps.press("Enter")
    page.wait_for_timeout(800)
    wait_for_app_idle(page)
    main.locator(".st-key-search_start button").first.click()
    main.locator('[data-testid="stProgress"]').first.wait_for(timeout=300_000)
    assert_no_exception(page, "search while training")
    screenshot(page, "search-running")

    main.locator(TABLE).first.wait_for(timeout=600_000)
    wait_for_app_idle(page)
    assert_no_exception(page, "search after the run")
    rows = _rows(page)
    assert list(rows) == ["recall@1", "recall@5", "recall@10", "MRR@10", "nDCG@10"], rows
    assert any(base != tuned for base, tuned, _ in rows.values()), rows  # the run moved the numbers
    assert float(rows["recall@10"][1]) > float(rows["recall@10"][0]), rows  # and for the better
    screenshot_whole_page(page, "search-done")
    page.set_viewport_size({"width": 400, "height": 900})
    page.wait_for_timeout(1500)
    assert_no_exception(page, "search at 400 px")
    screenshot_whole_page(page, "search-done-400px")
