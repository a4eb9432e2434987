"""Lab runs yield the CPU to page runs: a run trains at a lower scheduling priority, and on one
core fewer while a class is browsing (``class_browsing``, at the end of this module).

A class server trains on the same cores that serve every learner's pages. A lab run's
torch worker threads are always runnable, so under Linux's fair scheduler a page run
got an equal share at best and waited behind them. Each run's thread therefore raises
its own "nice" value before its first torch operation; the worker threads torch starts
from that thread inherit it (on Linux a new thread takes its creator's nice value). A
page run then gets the cores first, and a run still gets all of them when nobody is
browsing: priority only matters while both want the CPU.

``PEFT_LAB_TRAIN_NICE`` sets the step (default 10, 0 = off, at most 19). Raising nice needs
no privileges; lowering it again would, which is why only the run's own thread is changed
and the thread ends with its run.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time

DEFAULT_NICE = 10
_LOG = logging.getLogger(__name__)


def nice_step() -> int:
    """The step from the environment (``PEFT_LAB_TRAIN_NICE``), within 0..19; a bad value -> default."""
    raw = os.environ.get("PEFT_LAB_TRAIN_NICE", "").strip()
    if not raw:
        return DEFAULT_NICE
    if raw.isdigit() and int(raw) <= 19:
        return int(raw)
    _LOG.warning("PEFT_LAB_TRAIN_NICE=%r is not a whole number from 0 to 19: using %d", raw, DEFAULT_NICE)
    return DEFAULT_NICE


def thread_nice() -> int | None:
    """The calling thread's own nice value, or None where the OS has no per-thread priority."""
    if not hasattr(os, "getpriority"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return None


def lower_this_thread(step: int | None = None) -> int | None:
    """Raise the calling thread's nice value by ``step`` (default ``nice_step()``), capped at 19.

    Returns the thread's nice value afterwards (None where unsupported). Only this thread
    changes, not the process: the server's page threads keep their priority."""
    step = nice_step() if step is None else step
    now = thread_nice()
    if now is None or step <= 0:
        return now
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, now + step))
    except OSError as err:  # a sandbox may refuse it: the run trains as before
        _LOG.info("could not lower the training thread's priority: %s", err)
    return thread_nice()


# --- a spare core while a class is browsing -------------------------------------------------
# Measured with the classroom load test (100 learners, 5 lab runs queued, this 2-core machine):
# with lab runs on both cores, the page runs' p95 was 4.1-5.4 s in four runs (at nice 10 or 0
# alike); with them on one core (PEFT_LAB_THREADS=1), 1.8 s. The page runs come in bursts (a class
# opens the same page within seconds), and a lower priority alone did not leave them enough. So a
# run that starts while a class is using the server trains on one core fewer; a learner alone (a
# few page runs a minute) keeps every core.
BUSY_WINDOW_S = 30.0
DEFAULT_BUSY_PAGE_RUNS = 20  # page runs within the window that mean "a class is here"
_PAGE_RUNS: collections.deque = collections.deque(maxlen=1000)  # time.monotonic() of each page run
_PAGE_LOCK = threading.Lock()


def busy_page_runs() -> int:
    """``PEFT_LAB_BUSY_PAGE_RUNS``: page runs within ``BUSY_WINDOW_S`` from which a run leaves a
    core to the pages (default 20; 0 = never)."""
    raw = os.environ.get("PEFT_LAB_BUSY_PAGE_RUNS", "").strip()
    if raw.isdigit():
        return int(raw)
    if raw:
        _LOG.warning("PEFT_LAB_BUSY_PAGE_RUNS=%r is not a whole number: using %d", raw, DEFAULT_BUSY_PAGE_RUNS)
    return DEFAULT_BUSY_PAGE_RUNS


def page_ran() -> None:
    """The server has run a page (ui/perf.py calls it after each)."""
    with _PAGE_LOCK:
        _PAGE_RUNS.append(time.monotonic())


def class_browsing() -> bool:
    """At least ``busy_page_runs()`` page runs within the last ``BUSY_WINDOW_S`` seconds."""
    need = busy_page_runs()
    if need <= 0:
        return False
    since = time.monotonic() - BUSY_WINDOW_S
    with _PAGE_LOCK:
        return sum(1 for t in _PAGE_RUNS if t >= since) >= need
