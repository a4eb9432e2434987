"""Runs of learners who left: stopped once no tab of theirs has been open for a while.

A run belongs to the learner, not the tab (a refresh or a second tab finds it again), so a
closed tab alone stops nothing. But a learner with no open tab at all for
``limits().abandoned_s`` seconds (env ``PEFT_LAB_ABANDONED_S``) has gone: their queued runs are
cancelled and their running one stops after its step, so it never holds a slot for nobody. A
stopped run ends as any stopped run does: its ``on_done`` keeps its results so far.

Which learners have an open tab is the app's to say (``watch_learners(alive)``); this module
only counts the time. Only runs queued with ``learner=`` are ever stopped here.
"""
from __future__ import annotations

import logging
import threading
import time

from peft_edu.lab import jobs

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
_ABSENT_SINCE: dict[str, float] = {}  # learner with live runs -> when first seen with no open tab
_WATCH: dict = {"alive": None, "thread": None, "every_s": 5.0}


def stop_abandoned(alive, now: float | None = None) -> list[str]:
    """Stop the live runs of learners absent from ``alive`` (the learner ids with an open tab)
    for ``abandoned_s`` seconds in a row (0 = never); returns those learners.

    Call it now and then (``watch_learners`` does); ``now`` is ``time.monotonic()`` by default."""
    grace, now, alive = jobs.limits().abandoned_s, time.monotonic() if now is None else now, set(alive)
    live = [j for j in jobs.active_jobs() if j.learner is not None and not j.stopping]
    learners = {j.learner for j in live}
    with _LOCK:
        for learner in list(_ABSENT_SINCE):
            if learner in alive or learner not in learners:
                del _ABSENT_SINCE[learner]  # back (a refresh, a new tab), or nothing left to stop
        gone = []
        for learner in sorted(learners - alive):
            since = _ABSENT_SINCE.setdefault(learner, now)
            if grace > 0 and now - since >= grace:
                gone.append(learner)
                del _ABSENT_SINCE[learner]
    reason = f"No tab of yours was open for {grace:,.0f} s, so the app ended it."
    for job in live:
        if job.learner in gone:
            job.stop(reason)
    return gone


def watch_learners(alive, every_s: float = 5.0) -> None:
    """Call ``stop_abandoned(alive())`` every ``every_s`` seconds in one daemon thread (the first
    call starts it; a later one replaces ``alive``). ``alive()`` returns the learner ids with an
    open tab, or None when it cannot tell: then nothing is stopped."""
    with _LOCK:
        _WATCH["alive"], _WATCH["every_s"] = alive, every_s
        if _WATCH["thread"] is None:
            _WATCH["thread"] = threading.Thread(target=_watch, name="lab-absence", daemon=True)
            _WATCH["thread"].start()


def _watch() -> None:
    while True:
        time.sleep(_WATCH["every_s"])
        try:
            alive = _WATCH["alive"]()
            if alive is not None:
                stop_abandoned(alive)
        except Exception as err:  # noqa: BLE001 - the watcher must outlive any failed check
            log.warning("checking for learners who left failed: %s: %s", type(err).__name__, err)
