"""A class of 20 learners on one server, 5 of them fine-tuning at once: no error, no leak."""
import asyncio
import json
import threading

import pytest

from tests.load.classroom import run_load
from tests.server import require_browser


@pytest.mark.timeout(900)
def test_twenty_sessions_five_trainers():
    require_browser()
    # its own thread: the e2e tests' sync Playwright may hold an event loop in this one
    done: dict = {}

    def drive() -> None:
        try:
            done["report"] = asyncio.run(run_load(sessions=20, trainers=5, port=8611, run_seconds=20))
        except BaseException as err:  # handed to the test's thread below
            done["error"] = err

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join()
    if "error" in done:
        raise done["error"]
    report = done["report"]
    summary = report.summary()
    print("\nCLASSROOM LOAD REPORT\n" + json.dumps(summary, indent=2))
    assert report.errors == []
    assert summary["page_response_no_training"]["n"] > 0
    assert len(report.runs) == 5
    mem = report.memory_mb
    assert mem["after"] <= 1.10 * mem["start"], f"server memory did not come back: {mem}"
