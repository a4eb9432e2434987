"""Lab runs yield the CPU to page runs: a run trains at a lower scheduling priority.

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

import logging
import os
import threading

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
