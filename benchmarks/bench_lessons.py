"""Render time of the method lessons (render_lesson(key)) and of the Compare page.

    python benchmarks/bench_lessons.py [--reruns 5] [--keys lora,qlora]

Each case runs under Streamlit's AppTest in this process: the first run computes the
lesson's real runs (cold caches: that is the learner's first visit, shared afterwards by
every session), then ``--reruns`` more runs are timed as a learner's later visits (the
st.cache_data results are reused; the figures are rebuilt). Wall-clock time and CPU time
of this process are both shown: on a shared, loaded machine wall time includes waiting for
a core, CPU time is the work done. Browser rendering is not included.
Targets: a later visit < 1 s; a first visit "a few seconds" (< 5 s CPU) per lesson.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
TARGET_LATER_S = 1.0
TARGET_FIRST_CPU_S = 5.0


def _lesson(key: str) -> None:
    from ui.lessons import render_lesson

    render_lesson(key)


def _timed(at) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    at.run()
    if at.exception:
        raise RuntimeError(at.exception)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(at, reruns: int) -> dict:
    first = _timed(at)
    later = [_timed(at) for _ in range(reruns)]
    return {"first": first, "wall": statistics.median(w for w, _ in later),
            "cpu": statistics.median(c for _, c in later)}


def main() -> None:
    from streamlit.testing.v1 import AppTest

    from peft_edu import METHODS
    from peft_edu.lessons.transformer import pretrained

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=5)
    parser.add_argument("--keys", default=",".join(METHODS))
    args = parser.parse_args()
    start = time.process_time()
    pretrained()  # the shared tiny BERT (peft_edu.lessons.transformer): imports + pre-training, once
    print(f"shared set-up (transformers import, tiny BERT pre-training): {time.process_time() - start:.1f} s CPU")
    cases = {f"lesson: {k}": AppTest.from_function(_lesson, args=(k,), default_timeout=900)
             for k in args.keys.split(",")}
    cases["page: compare"] = AppTest.from_file(str(ROOT / "app_pages" / "compare.py"), default_timeout=900)
    print(f"{'case':<26}{'first wall s':>13}{'first CPU s':>12}{'later wall s':>13}{'later CPU s':>12}"
          f"{'target later':>13}")
    slowest = ("", 0.0)
    for name, at in cases.items():
        r = bench(at, args.reruns)
        (fw, fc) = r["first"]
        ok = "ok" if r["wall"] < TARGET_LATER_S else "SLOW"
        print(f"{name:<26}{fw:>13.2f}{fc:>12.2f}{r['wall']:>13.3f}{r['cpu']:>12.3f}{'< 1 s ' + ok:>13}")
        slowest = max(slowest, (name, r["wall"]), key=lambda x: x[1])
    print(f"slowest later visit: {slowest[0]} ({slowest[1]:.3f} s wall, median of {args.reruns})")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
