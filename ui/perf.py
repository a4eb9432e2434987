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
import gc
import json
import os
import threading
import time

from peft_edu.lab.priority import page_ran

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
    page_ran()  # lab runs that start while a class is browsing leave it a core (peft_edu/lab/priority.py)
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


# --- garbage collection when the server is idle ---------------------------------------------
IDLE_S, EVERY_S = 5.0, 30.0  # collect once no page has run for 5 s, at most every 30 s
_GC = {"started": False, "last": 0.0}


def idle_collector() -> bool:
    """Start (once per process) a thread that runs a full garbage collection while no page runs.

    Streamlit's own collection after every page run is off (.streamlit/config.toml,
    ``runner.postScriptGC``): with a class's shared models and figures it cost 0.4-0.6 s of CPU
    per run. Cyclic garbage (closed sessions, ended runs) is still collected — here, in a quiet
    moment, and by Python's generational collector as usual; what the warm-up filled is frozen
    out of the latter (``freeze_heap``)."""
    with _LOCK:
        if _GC["started"]:
            return False
        _GC["started"] = True
    threading.Thread(target=_collect_when_idle, name="peft-lab-idle-gc", daemon=True).start()
    return True


def freeze_heap() -> int:
    """Collect, then move every object left into the permanent generation; returns how many.

    Called once the warm-up has filled the shared caches (the pretrained models, tokenizers, every
    method page's run and figures). Python's automatic full collections then skip them: with them,
    each one walked the whole heap and held the GIL for 0.5-1.0 s, a few times a minute under a
    class's load (measured with ``gc.callbacks`` in the 100-session load test), and every page
    run and message of the server waited meanwhile. The idle collection still looks at them."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def collect_idle() -> None:
    """A full collection of everything, the frozen heap included (a cycle that died in it is
    found), memory handed back to the OS, then what is left frozen again."""
    from peft_edu.lab.jobs import give_back_memory  # gc.collect + glibc's malloc_trim

    frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    give_back_memory()
    if frozen:
        gc.freeze()


def _collect_when_idle() -> None:
    while True:
        time.sleep(IDLE_S)
        with _LOCK:
            last_run = _RECENT[-1][3] if _RECENT else 0.0
        now = time.time()
        if now - last_run >= IDLE_S and now - _GC["last"] >= EVERY_S:
            collect_idle()
            _GC["last"] = time.time()
