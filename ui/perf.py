"""What each page run costs the server: the script thread's CPU seconds and its wall seconds.

``app.py`` starts a ``Clock()`` at the top of every page run and calls ``done(page)`` at its end; the numbers go to a small in-process
record (``recent()``, read by the benchmark ``benchmarks/bench_page_cpu.py`` and the teacher
page) and, when the environment variable ``PEFT_LAB_PAGE_LOG`` names a file, one JSON line per
run is appended there (the load test reads the server's own numbers from it).

CPU is the script thread's own (``time.thread_time``): training threads and other sessions'
runs on the same server are not counted, so the number is what this page run cost.
"""
from __future__ import annotations

import collections
import json
import os
import threading
import time

_RECENT: collections.deque = collections.deque(maxlen=2000)  # (page, cpu_s, wall_s, unix time)
_LOCK = threading.Lock()


class Clock:
    """Started at the top of a page run; ``done(page)`` records it (call it in a ``finally``,
    so a run that a newer click interrupts is counted too)."""

    def __init__(self) -> None:
        self.cpu0, self.wall0 = time.thread_time(), time.perf_counter()

    def done(self, page: str) -> None:
        record(page, time.thread_time() - self.cpu0, time.perf_counter() - self.wall0)


def record(page: str, cpu_s: float, wall_s: float) -> None:
    row = (page, round(cpu_s, 4), round(wall_s, 4), time.time())
    with _LOCK:
        _RECENT.append(row)
        path = os.environ.get("PEFT_LAB_PAGE_LOG", "").strip()
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"page": row[0], "cpu_s": row[1], "wall_s": row[2], "t": row[3]}) + "\n")


def recent(page: str | None = None) -> list[tuple[str, float, float, float]]:
    """The recorded runs, oldest first (of one page when ``page`` is given)."""
    with _LOCK:
        return [r for r in _RECENT if page is None or r[0] == page]
