"""The server's whole CPU per page run (not only the page script), with and without Streamlit's
forced garbage collection after every run (``runner.postScriptGC``).

    python benchmarks/bench_server_cpu.py [--rounds 5]

For each setting a fresh `streamlit run app.py` is started (warm-up off: the pages are warmed by
one visit each first); then ``--rounds`` protocol-level tabs (tests/load/protocol.py, one at a time,
no think time) each open the six pages of the load test. Printed: the server process's CPU
seconds (psutil: user + system, server and children) divided by the page runs, the page runs'
own script CPU from the app's page log (ui/perf.py), and their latency; medians over the
rounds; the load average. Target (issue 16): <= 0.1 s of server CPU per page run after the
page's first visit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.load.classroom import PAGES  # noqa: E402
from tests.load.protocol import Tab  # noqa: E402
from tests.server import running_app  # noqa: E402


def cpu_of(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


async def one_round(url: str) -> list[float]:
    async with Tab(url) as tab:
        return [(await tab.open(page)).latency_s for page in PAGES]


def measure(post_gc: bool, rounds: int) -> dict:
    log = Path(tempfile.mkdtemp()) / "pages.jsonl"
    env = {"PEFT_LAB_WARM_UP": "0", "PEFT_LAB_PAGE_LOG": str(log), "PEFT_LAB_DATA": tempfile.mkdtemp()}
    args = ("--runner.postScriptGC", "true" if post_gc else "false")
    with running_app("streamlit-bench-cpu.log", args=args, env=env) as server:
        proc = psutil.Process(server.proc.pid)
        asyncio.run(one_round(server.url))  # first visits: runs and figures computed
        per_run, latency = [], []
        for _ in range(rounds):
            before, n_before = cpu_of(proc), len(log.read_text().splitlines())
            latency += asyncio.run(one_round(server.url))
            runs = len(log.read_text().splitlines()) - n_before
            per_run.append((cpu_of(proc) - before) / max(runs, 1))
        rows = [json.loads(line) for line in log.read_text().splitlines()][len(PAGES):]
    return {"server_cpu": statistics.median(per_run), "script_cpu": statistics.median(r["cpu_s"] for r in rows),
            "latency": statistics.median(latency), "p95": sorted(latency)[int(0.95 * (len(latency) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'runner.postScriptGC':20s} {'server CPU/run':>15s} {'script CPU/run':>15s} {'latency median':>15s} {'p95':>7s}")
    for post_gc in (True, False):
        r = measure(post_gc, args.rounds)
        print(f"{str(post_gc).lower():20s} {r['server_cpu']:14.3f}s {r['script_cpu']:14.3f}s {r['latency']:14.3f}s "
              f"{r['p95']:6.3f}s   (load {os.getloadavg()[0]:.1f})", flush=True)
    print("target: <= 0.100 s of server CPU per page run after the first visit")


if __name__ == "__main__":
    main()
