"""In a real browser and a real server: a learner's run survives a refresh and a tab left open
on another page, and is stopped (its results kept) once no tab of the learner is open for
PEFT_LAB_ABANDONED_S seconds. The run's state is read from the server's own store."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from peft_edu.store import open_store, runs
from tests.e2e.helpers import assert_no_exception, wait_for_app_idle
from tests.server import running_app

GRACE_S = 6  # the server's PEFT_LAB_ABANDONED_S; its check runs every 5 s


def _status(store, learner_id: str):
    (run,) = runs.runs_of(store, learner_id)
    return run


def _wait_status(store, learner_id: str, wanted: set[str], timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        run = _status(store, learner_id)
        if run.status in wanted:
            return run
        time.sleep(0.5)
    return _status(store, learner_id)


@pytest.mark.e2e
def test_a_run_outlives_a_refresh_and_another_page_but_not_the_last_tab(browser, tmp_path):
    db = f"sqlite:///{tmp_path / 'lab.sqlite3'}"
    env = {"PEFT_LAB_ABANDONED_S": str(GRACE_S), "PEFT_LAB_DB": db, "PEFT_LAB_DATA": str(tmp_path / "data")}
    with running_app("streamlit-fair.log", env=env) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        lab = context.new_page()
        lab.set_default_timeout(300_000)
        lab.goto(f"{server.url}/lab")
        wait_for_app_idle(lab, timeout_ms=180_000)
        main = lab.locator('[data-testid="stMain"]')
        steps = main.get_by_label("Steps")
        steps.fill("500")
        steps.press("Enter")
        lab.wait_for_timeout(800)
        wait_for_app_idle(lab)
        main.locator(".st-key-lab_start button").first.click()
        main.get_by_text(re.compile(r"step \d+ of 500")).first.wait_for()
        code = parse_qs(urlsplit(lab.url).query)["learner"][0]
        store = open_store(db, tmp_path / "data")
        try:
            me = store.find(code).id
            assert _status(store, me).status == "running"

            lab.reload()  # a refresh reattaches to the run
            main.get_by_text(re.compile(r"step \d+ of 500")).first.wait_for()
            assert_no_exception(lab, "lab after a refresh")

            other = context.new_page()  # a second tab of the learner, on another page
            other.goto(f"{server.url}/?learner={code}")
            wait_for_app_idle(other, timeout_ms=120_000)
            lab.close()
            time.sleep(GRACE_S + 12)  # past the grace period and two checks: that open tab keeps it
            assert _status(store, me).status == "running"

            other.close()  # no tab of the learner is open now
            run = _wait_status(store, me, {"stopped", "done"}, timeout=GRACE_S + 60)
            assert run.status == "stopped", (run.status, run.message)
            assert f"No tab of yours was open for {GRACE_S} s" in run.message
            assert run.curves and run.result.get("test_accuracy") is not None  # its results are kept
        finally:
            store.close()
            context.close()
