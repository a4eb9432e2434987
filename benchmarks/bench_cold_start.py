"""Cold start of a class server: `streamlit run app.py` to the first rendered page, and how long
the background warm-up takes until every method page's first visit is cheap.

    python benchmarks/bench_cold_start.py [--repeats 3] [--port 8650]

A fresh `streamlit run app.py` process is started (with the repository's .streamlit/config.toml);
Debian's Chromium (already launched, so its own start is not counted) opens the home page as soon
as the server answers its health check. Printed per run: seconds from starting the process to the
home page's title on screen with the script finished (target <= 3 s): the server has logged the
end of home's run and then the browser shows no running script; before it, when the server
answered its health check, when the title appeared and when home's run ended; after it, when
home's plotly timeline was drawn (plotly.js, 4.7 MB of script, can take seconds); then, from
the server's own page log (ui/perf.py, PEFT_LAB_PAGE_LOG), when the background warm-up finished
(its line in the server log) and the first visit of a method page opened after it (target <= 1 s).
Medians of --repeats runs; the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
CHART = '[data-testid="stMainBlockContainer"] .js-plotly-plot'  # home's timeline
COLD_TARGET_S, FIRST_VISIT_TARGET_S = 3.0, 1.0


def _run_end(log: Path, page: str, timeout: float) -> float | None:
    """Unix time at which the server's first run of ``page`` ended (its ui/perf.py line), waited for.

    The browser's status widget is not there yet for a moment after a run starts, so the idle
    check alone can pass while the server is still running the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines() if log.exists() else []:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line being written
                continue
            if row["page"] == page:
                return row["t"]
        time.sleep(0.05)
    return None


def one_run(port: int, method: str, warm_timeout: float) -> dict:
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp()) / "pages.jsonl"
    env = {"PEFT_LAB_PAGE_LOG": str(log), "PEFT_LAB_DATA": tempfile.mkdtemp()}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        with running_app("streamlit-cold-start.log", port=port, env=env) as server:
            healthy = time.monotonic() - server.started
            unix0 = time.time() - healthy  # the process's start on the page log's clock
            page.goto(server.url, wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=120_000)
            title = time.monotonic() - server.started
            ended = _run_end(log, "home", 120)
            page.wait_for_function(IDLE_JS, timeout=120_000)
            cold = time.monotonic() - server.started
            finished = ended - unix0 if ended is not None else None
            page.wait_for_selector(CHART, timeout=120_000)  # plotly.js (4.7 MB) drawn, often after the above
            chart = time.monotonic() - server.started
            server_log = ROOT / "test-output" / "streamlit-cold-start.log"
            deadline = time.monotonic() + warm_timeout
            warm_s = None
            while time.monotonic() < deadline and warm_s is None:
                found = re.findall(r"warm-up finished in ([0-9.]+) s", server_log.read_text(errors="replace"))
                warm_s = float(found[-1]) if found else None
                time.sleep(1)
            t0 = time.monotonic()
            page.goto(f"{server.url}/{method}", wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=300_000)
            _run_end(log, method, 300)
            page.wait_for_function(IDLE_JS, timeout=300_000)
            visit = time.monotonic() - t0
        browser.close()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    mine = [r for r in rows if r["page"] == method]
    home = [r for r in rows if r["page"] == "home"]
    return {"healthy_s": healthy, "title_s": title, "finished_s": finished, "cold_s": cold, "chart_s": chart,
            "warm_s": warm_s, "visit_s": visit, "visit_server_s": mine[0]["wall_s"] if mine else None,
            "home_server_s": home[0]["wall_s"] if home else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=8650)
    parser.add_argument("--method", default="adalora", help="the method page visited after the warm-up")
    parser.add_argument("--warm-timeout", type=float, default=600)
    args = parser.parse_args()
    runs = []
    for i in range(args.repeats):
        r = one_run(args.port + i, args.method, args.warm_timeout)
        runs.append(r)
        finished = f"{r['finished_s']:.2f} s" if r["finished_s"] is not None else "not logged"
        print(f"run {i + 1}: health check {r['healthy_s']:.2f} s, title on screen {r['title_s']:.2f} s, "
              f"home's run over on the server {finished}, home rendered {r['cold_s']:.2f} s "
              f"(its timeline chart {r['chart_s']:.2f} s) "
              f"(its script {r['home_server_s']} s on the server) "
              f"(target {COLD_TARGET_S} s); warm-up {r['warm_s'] if r['warm_s'] is not None else 'not finished'} s; "
              f"first visit of {args.method} after it: {r['visit_s']:.2f} s in the browser, "
              f"{r['visit_server_s']} s on the server (target {FIRST_VISIT_TARGET_S} s); "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    keys = ("title_s", "finished_s", "cold_s", "chart_s", "visit_s")
    med = {k: statistics.median([r[k] for r in runs if r[k] is not None] or [float("nan")]) for k in keys}
    print(f"\nmedian of {len(runs)}: cold start to the home page {med['cold_s']:.2f} s (target {COLD_TARGET_S} s; "
          f"its title on screen at {med['title_s']:.2f} s, its run over on the server at {med['finished_s']:.2f} s, "
          f"its timeline chart at {med['chart_s']:.2f} s), "
          f"first visit of {args.method} after the warm-up {med['visit_s']:.2f} s (target {FIRST_VISIT_TARGET_S} s)")


if __name__ == "__main__":
    main()
