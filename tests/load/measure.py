"""What the classroom load test reads off the server: its memory, its CPU, its own page-run log.

The server is ``streamlit run app.py`` and its children; memory is their resident set (RSS)
summed, CPU their user + system seconds. ``server_cpu`` reads the app's own record of each
page run (``ui/perf.py`` writes one JSON line per run to ``PEFT_LAB_PAGE_LOG``).
"""
from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import defaultdict

import psutil

from tests.load.protocol import Tab

TTL_S = 2  # --server.disconnectedSessionTTL of the load server


def server_cpu(log_path: str, t0: float, t1: float, wall_s: float) -> dict:
    """The script thread's CPU seconds per page run, from the app's own log (``PEFT_LAB_PAGE_LOG``,
    one JSON line per full page run, written by ``ui/perf.py``) between unix times t0 and t1:
    what a run costs the server, apart from the time it waited for the CPU (and the GIL)."""
    rows = []
    try:
        with open(log_path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except OSError:
        return {}
    rows = [r for r in rows if t0 <= r.get("t", 0) <= t1]
    by_page = defaultdict(list)
    for r in rows:
        by_page[r["page"]].append(r["cpu_s"])
    total = sum(r["cpu_s"] for r in rows)
    return {"cpu_s": stats([r["cpu_s"] for r in rows]), "script_wall_s": stats([r["wall_s"] for r in rows]),
            "script_cpu_s_per_wall_s": round(total / wall_s, 2) if wall_s else 0,
            "cpu_s_per_page": {page: stats(xs) for page, xs in sorted(by_page.items())}}


def stats(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return {"n": len(xs), "median_s": round(statistics.median(xs), 3), "p95_s": round(p95, 3),
            "max_s": round(xs[-1], 3)}


def server_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in (proc, *proc.children(recursive=True)):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return round(total / 1e6, 1)


def process_cpu_s(proc: psutil.Process) -> float:
    """CPU seconds used so far by the server and its children (all threads: page runs, the event
    loop that sends their messages, training)."""
    total = 0.0
    for p in (proc, *proc.children(recursive=True)):
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


async def wait_server_idle(proc: psutil.Process, timeout: float = 300, quiet_s: int = 3) -> float:
    """Until the server has used < 10 % of a core for ``quiet_s`` seconds in a row."""
    t0, quiet = time.monotonic(), 0
    while quiet < quiet_s and time.monotonic() - t0 < timeout:
        procs = [proc, *proc.children(recursive=True)]
        before = sum(sum(p.cpu_times()[:2]) for p in procs)
        await asyncio.sleep(1)
        used = sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running()) - before
        quiet = quiet + 1 if used < 0.1 else 0
    return time.monotonic() - t0


async def settled_rss(proc: psutil.Process, base: str, target_mb: float | None) -> dict:
    """The server's RSS once the closed tabs' sessions are gone. Streamlit keeps a closed tab's
    session for reconnection (``disconnectedSessionTTL``) in a TTL cache that drops expired
    entries only on its next write: one later visit (a probe tab) lets them go, as the next
    learner's visit would on a real server. Then read for up to 10 s (freed pages go back to
    the OS as the app's threads end) and keep the lowest reading."""
    await asyncio.sleep(TTL_S + 1)
    async with Tab(base) as probe:
        await probe.open("")
    await asyncio.sleep(TTL_S + 1)
    await wait_server_idle(proc)
    first = server_rss_mb(proc)
    readings = [first]
    for _ in range(5):
        if target_mb is not None and readings[-1] <= target_mb * 1.02:
            break
        await asyncio.sleep(2)
        readings.append(server_rss_mb(proc))
        if target_mb is None and abs(readings[-1] - readings[-2]) < 0.005 * readings[-2]:
            break  # steady
    return {"after_first_read": first, "after": min(readings)}
