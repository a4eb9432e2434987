"""A short classroom load test in the normal suite: protocol-level tabs, two real browsers, five trainers.

12 learner tabs per phase (think time 1.5 s: the class acts far faster than a real one), 5 more
queuing short lab runs in the second phase, 2 Chromium sessions checking what a learner sees.
It asserts what a 2-core CI box can honestly meet: no error anywhere, every page and action ran
for every learner, the server's memory back within 10 % of its warm start once the class has
left, and loose latency bounds that catch a hung or runaway server. They are loose because this
class saturates the server: measured on the 2-core box (shared, load average 2-8), it serves
about 2.2 page runs a second with its process at ~0.9 of a core (one Python process: the GIL),
so a page run's latency here is mostly waiting for the one core (median 2-6 s, p95 4-11 s).

The full target (issue 16) is 100 learners with a 10 s think time: 0 errors, p95 page run
<= 1 s without training and <= 2 s while 5 lab runs are queued, memory back within 10 %:

    python -m tests.load.classroom --sessions 100 --think 10 --trainers 5 --steps 100
"""
import asyncio
import json
import threading

import pytest

from tests.load.classroom import PAGES, SLIDER_PAGES, name_of, run_load
from tests.server import require_browser

SESSIONS, TRAINERS = 12, 5
LOOSE_P95_S = {"no training": 12.0, f"{TRAINERS} lab runs queued": 18.0}  # the full target: 1 s and 2 s


def _drive() -> dict:
    """run_load in its own thread: the e2e tests' sync Playwright may hold an event loop in this one."""
    done: dict = {}

    def drive() -> None:
        try:
            done["report"] = asyncio.run(run_load(sessions=SESSIONS, think=1.5, trainers=TRAINERS, steps=20,
                                                  timeout_s=330))
        except BaseException as err:  # handed to the test's thread below
            done["error"] = err

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join()
    if "error" in done:
        raise done["error"]
    return done["report"]


@pytest.mark.timeout(420)
def test_classroom_of_twenty_with_five_lab_runs_queued():
    require_browser()
    report = _drive()
    summary = report.summary()
    print("\nCLASSROOM LOAD REPORT\n" + json.dumps(summary, indent=2))
    assert report.all_errors() == []
    actions = [name_of(p) for p in PAGES] + [f"{p} (slider)" for p in SLIDER_PAGES] + ["quiz (start)"]
    assert [p.name for p in report.phases] == list(LOOSE_P95_S)
    for phase in report.phases:
        for action in actions:  # every learner did every step (the lab also counts the trainers' visits)
            assert len(phase.runs[action]) >= SESSIONS, (phase.name, action, len(phase.runs[action]))
        assert sum("chromium" in line for line in phase.seen) == 4, phase.seen  # 2 browsers x 2 pages
        p95 = summary["phases"][phase.name]["page_runs"]["p95_s"]
        assert p95 <= LOOSE_P95_S[phase.name], f"{phase.name}: p95 page run {p95} s"
    queued = report.phases[1]
    assert len(queued.runs["lab (Start)"]) == TRAINERS
    assert len(queued.runs["lab (live)"]) > 0  # the trainers' live panels redrew while runs trained
    assert sum(line.startswith("trainer") for line in queued.seen) == TRAINERS
    assert any("run active until the end" in line for line in queued.seen)  # training lasted the phase
    mem = report.memory_mb
    assert mem["after"] <= 1.10 * mem["start"], f"server memory did not come back: {mem}"
