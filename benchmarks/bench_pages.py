"""Render time of every method page after its first visit (target < 1 s), with Streamlit's AppTest.

Each page is rendered as the app renders it (ui.nav: render_method + the method's quiz).
The first run fills the caches (training runs, figures, counts); then each of ``--repeats`` fresh
sessions renders the page again. Printed per page, medians:

- script: the page script's own run time (what the server spends rendering the page);
- apptest: the whole AppTest run (script + AppTest's harness), next to the harness alone
  (an empty page), which on a loaded 2-core machine is most of it.

Run: python benchmarks/bench_pages.py [--repeats 5] [method ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TARGET_S = 1.0  # issue 4: every method page renders in under 1 s after the first visit


def _page(key: str, log: str) -> None:
    import time

    from ui.method import render_method
    from ui.quiz_widgets import render_method_quiz

    start = time.perf_counter()
    render_method(key)
    render_method_quiz(key)
    with open(log, "a") as f:
        f.write(f"{time.perf_counter() - start}\n")


def _empty(key: str, log: str) -> None:
    import streamlit as st

    st.title(key)  # AppTest's own cost, for reference
    with open(log, "a") as f:
        f.write("0\n")


def time_page(key: str, repeats: int, page=_page) -> dict:
    """First visit, then medians of later visits (fresh sessions): script and AppTest wall time."""
    from streamlit.testing.v1 import AppTest

    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        walls = []
        for _ in range(repeats + 1):
            at = AppTest.from_function(page, args=(key, log.name), default_timeout=600)
            t0 = time.perf_counter()
            at.run()
            walls.append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{key}: {at.exception[0].value}")
        scripts = [float(x) for x in Path(log.name).read_text().split()]
    return {"first": walls[0], "apptest": statistics.median(walls[1:]),
            "script": statistics.median(scripts[1:]), "script_max": max(scripts[1:])}


def main() -> None:
    from peft_edu import METHODS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*", default=list(METHODS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    harness = time_page("empty", args.repeats, page=_empty)["apptest"]
    print(f"AppTest harness alone (empty page): {harness:.3f} s median\n")
    print(f"{'page':15s} {'first visit':>11s} {'script':>8s} {'(max)':>7s} {'apptest':>8s} {'target':>7s}  verdict")
    results = {}
    for key in args.methods:
        r = time_page(key, args.repeats)
        results[key] = r
        verdict = "ok" if r["script"] < TARGET_S else "SLOW"
        print(f"{key:15s} {r['first']:10.2f}s {r['script']:7.3f}s {r['script_max']:6.3f}s "
              f"{r['apptest']:7.3f}s {TARGET_S:6.1f}s  {verdict}", flush=True)
    slowest = max(results, key=lambda k: results[k]["script"])
    r = results[slowest]
    print(f"\nslowest page after first visit: {slowest}: script {r['script']:.3f} s, AppTest "
          f"{r['apptest']:.3f} s (harness alone {harness:.3f} s); target < {TARGET_S:.1f} s; "
          f"medians of {args.repeats} fresh sessions")


if __name__ == "__main__":
    main()
