"""Measure the live lab's default runs: learning rate × batch → steps to 90 %, final accuracy, seconds.

    python scripts/measure_lab_defaults.py [method ...] [--lrs 2e-3,5e-3] [--batches 16]
        [--head-lrs 2e-3] [--seeds 1] [--steps N] [--every 5] [--threads 2] [--curves]

For every method (all 22 lab choices when none is named), every learning rate of ``--lrs``
(default: the method's own ``LAB.lr`` at ×0.5, ×1, ×2) and every batch size, it trains
all-MiniLM-L6-v2 on the shipped "Did City win?" data with the lab's defaults otherwise,
scoring the *whole* test split every ``--every`` steps, and prints per cell (medians over
``--seeds`` seeds): the first step whose test accuracy is >= 90 %, the final test accuracy,
the median step time and the training seconds to 90 % (that step × the step time, no
evaluations). The numbers in each module's ``LAB = LabDefaults(...)`` come from this table:
the rate that reaches 90 % in the fewest seconds without losing final accuracy, and the
fewest steps that keep the final accuracy while the whole default run stays <= 15 s.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from peft_edu.lab.data import load_builtin  # noqa: E402
from peft_edu.lab.run_config import METHOD_CHOICES, defaults  # noqa: E402
from peft_edu.lab.train import train  # noqa: E402
from peft_edu.models import load_pretrained  # noqa: E402

TARGET = 0.90


def cell(method: str, lr: float, batch: int, seed: int, steps: int | None, every: int, data,
         head_lr: float | None = None) -> dict:
    """One run scored on the whole test split every ``every`` steps."""
    base, tok, train_set, test_set = data
    cfg = defaults(method, lr=lr, batch_size=batch, seed=seed, eval_every=every, eval_examples=0,
                   **({"steps": steps} if steps else {}), **({"head_lr": head_lr} if head_lr else {}))
    result = train(cfg, base, tok, train_set, test_set, device="cpu")
    evals = [m for m in result.metrics if m.test_acc is not None]
    first = next((m.step for m in evals if m.test_acc >= TARGET), None)
    step_s = statistics.median(m.step_time for m in result.metrics) if result.metrics else float("nan")
    return {"status": result.status, "step90": first, "final": result.test_accuracy or 0.0, "step_s": step_s,
            "curve": [round(m.test_acc, 3) for m in evals]}


def median_or_none(values: list) -> float | None:
    """The median, or None when more than half of the runs never got there."""
    got = sorted(v for v in values if v is not None)
    return statistics.median(got) if len(got) * 2 > len(values) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("methods", nargs="*", default=list(METHOD_CHOICES))
    parser.add_argument("--lrs", default="", help="comma-separated rates, or 'own' (default: LAB.lr × 0.5, 1, 2)")
    parser.add_argument("--batches", default="16")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=0, help="steps per run (default: the method's own)")
    parser.add_argument("--every", type=int, default=5, help="steps between whole-test-split evaluations")
    parser.add_argument("--head-lrs", default="", help="comma-separated head rates (default: RunConfig's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--curves", action="store_true", help="print each run's accuracy curve too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_set, test_set = load_builtin()
    base, tok = load_pretrained(len(train_set.label_names), seed=0)
    data = (base, tok, train_set, test_set)
    print(f"load average {os.getloadavg()[0]:.1f}, {args.threads} threads, whole test split every {args.every} steps")
    print(f"{'method':14s} {'lr':>8s} {'head lr':>8s} {'batch':>5s} {'steps':>5s} {'step90':>6s} {'final':>6s} {'step s':>7s} {'s to 90':>7s}")
    batches = [int(b) for b in args.batches.split(",")]
    head_lrs = [float(x) for x in args.head_lrs.split(",")] if args.head_lrs else [None]
    for method in args.methods:
        own = defaults(method).lr
        lrs = ([own] if args.lrs == "own" else [float(x) for x in args.lrs.split(",")] if args.lrs
               else [own / 2, own, own * 2])
        for lr in lrs:
            for batch, head_lr in itertools.product(batches, head_lrs):
                runs = [cell(method, lr, batch, seed, args.steps, args.every, data, head_lr)
                        for seed in range(args.seeds)]
                step90 = median_or_none([r["step90"] for r in runs])
                final = statistics.median(r["final"] for r in runs)
                step_s = statistics.median(r["step_s"] for r in runs)
                steps = args.steps or defaults(method).steps
                to90 = f"{step90 * step_s:7.1f}" if step90 is not None else "      —"
                head = f"{head_lr:8.0e}" if head_lr else f"{defaults(method).head_lr:8.0e}"
                print(f"{method:14s} {lr:8.0e} {head} {batch:5d} {steps:5d} {step90 if step90 is not None else '—':>6} "
                      f"{final:6.1%} {step_s:7.3f} {to90}", flush=True)
                if args.curves:
                    for r in runs:
                        print(f"{'':14s} {r['status']}: {r['curve']}")


if __name__ == "__main__":
    main()
