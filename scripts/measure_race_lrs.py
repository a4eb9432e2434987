"""Measure each method's own learning rate for the Compare race (its module's LESSON.race_lr).

    python scripts/measure_race_lrs.py [method ...]

Runs the race task (peft_edu.lessons.compare.race_one: the tiny BERT adapting from task A to
task B, 30 Adam steps) at each rate of compare.RACE_LRS and prints the final losses and the
best rate per method; the best rate is what each module's LESSON.race_lr holds.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peft_edu.lessons import compare  # noqa: E402
from peft_edu.registry import METHODS  # noqa: E402


def main() -> None:
    methods = tuple(sys.argv[1:]) or tuple(METHODS)
    print(f"load average {os.getloadavg()[0]:.1f}; rates {compare.RACE_LRS}, {compare.STEPS} steps")
    for method, (best, finals) in compare.best_lrs(methods).items():
        cells = "  ".join(f"{lr:g}: {loss:.3f}" for lr, loss in finals.items())
        print(f"{method:14s} best {best:<6g} {cells}")


if __name__ == "__main__":
    main()
