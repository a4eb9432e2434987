"""Render time of every method page after its first visit (target < 1 s), with Streamlit's AppTest.

Each page is rendered as the app renders it (pages.common: render_method + the method's quiz);
the first run fills the caches (training runs, figures, counts), then the median of the next
runs is reported. Run: python benchmarks/bench_pages.py [--repeats 5] [method ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TARGET_S = 1.0  # issue 4: every method page renders in under 1 s after the first visit


def _page(key: str) -> None:
    from pages.method import render_method
    from pages.quiz_widgets import render_method_quiz

    render_method(key)
    render_method_quiz(key)


def time_page(key: str, repeats: int) -> tuple[float, float, list[float]]:
    """(first visit s, median of later visits s, all later visits)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page, args=(key,), default_timeout=600)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{key}: {at.exception[0].value}")
    later = []
    for _ in range(repeats):
        fresh = AppTest.from_function(_page, args=(key,), default_timeout=600)  # a new session
        t0 = time.perf_counter()
        fresh.run()
        later.append(time.perf_counter() - t0)
    return first, statistics.median(later), later


def main() -> None:
    from peft_edu import METHODS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*", default=list(METHODS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'page':15s} {'first visit':>12s} {'after (median)':>15s} {'target':>8s}  verdict")
    results = {}
    for key in args.methods:
        first, median, _ = time_page(key, args.repeats)
        results[key] = median
        verdict = "ok" if median < TARGET_S else "SLOW"
        print(f"{key:15s} {first:11.2f}s {median:14.3f}s {TARGET_S:7.1f}s  {verdict}", flush=True)
    slowest = max(results, key=results.get)
    print(f"\nslowest page after first visit: {slowest} {results[slowest]:.3f} s "
          f"(target < {TARGET_S:.1f} s, median of {args.repeats} fresh sessions)")


if __name__ == "__main__":
    main()
