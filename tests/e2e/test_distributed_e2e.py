"""In a real browser: start real 2-process runs on the distributed page (LoRA, then full
fine-tuning of the MiniLM), see each end with its measured bytes equal to the formula, and
check that no worker process is left behind; screenshots at desktop width and at 400 px."""
from __future__ import annotations

import psutil
import pytest

from tests.workers import live_workers
from tests.e2e.helpers import assert_no_exception, screenshot_whole_page, wait_for_app_idle, wait_until_painted

def workers_of(server) -> list[psutil.Process]:
    return live_workers(psutil.Process(server.proc.pid))


def start_and_finish(page, main, finished_rows: int) -> None:
    main.locator(".st-key-dist_run_start button").first.click()
    main.locator('[data-testid="stProgress"], .st-key-dist_run_stop').first.wait_for(timeout=120_000)
    assert_no_exception(page, "distributed while running")
    main.get_by_text(f"{finished_rows} finished run(s) this session").first.wait_for(timeout=240_000)
    wait_for_app_idle(page)
    text = main.get_by_text("finished run(s) this session").first.inner_text()
    assert f"formula in {finished_rows} of {finished_rows} DDP" in text, text


def choose_method(page, main, name: str) -> None:
    box = main.locator(".st-key-dist_run_method")
    box.click()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_timeout(800)
    wait_for_app_idle(page)


@pytest.mark.e2e
def test_real_runs_end_and_leave_no_worker(app_server, app_url, page):
    page.goto(f"{app_url}/distributed")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, "distributed")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Multi-GPU calculator").first.wait_for()

    start_and_finish(page, main, 1)  # LoRA, the default method
    assert workers_of(app_server) == [], "a worker process outlived the LoRA run"
    choose_method(page, main, "Full fine-tuning")
    start_and_finish(page, main, 2)
    assert workers_of(app_server) == [], "a worker process outlived the full fine-tuning run"
    assert_no_exception(page, "distributed after the runs")
    main.get_by_text("only trainable values travel").first.wait_for(timeout=30_000)
    wait_until_painted(page)
    screenshot_whole_page(page, "distributed-desktop")
    page.set_viewport_size({"width": 400, "height": 900})
    page.wait_for_timeout(1500)
    wait_until_painted(page)
    assert_no_exception(page, "distributed at 400 px")
    screenshot_whole_page(page, "distributed-400px")
