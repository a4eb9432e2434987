"""Run the pre-training experiment and store it: assets/data/pretraining.json.

    python scripts/make_pretraining.py            # the six runs (~30-50 s CPU), writes the JSON
    python scripts/make_pretraining.py --sweep    # the learning-rate sweep behind RUNS' rates

The lesson (``peft_edu.lessons.pretraining.experiment``) reads the JSON when it was made with
the code's budget and runs, and otherwise trains the six models itself (then Streamlit's cache
keeps the result for every later visitor). Deterministic: one CPU thread, seeded data, seeded
initialisations, so the file is the same on every run on the same torch build.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peft_edu.lessons import pretraining as P  # noqa: E402

SWEEP = (2e-3, 5e-3, 1e-2, 2e-2, 4e-2)  # peak learning rates tried for every run


def summary(exp: P.Experiment) -> None:
    for run in exp.runs:
        ranks = run.ranks()
        print(f"{run.label:15s} held-out {run.held[-1]:.3f}  train {run.train[-1]:.3f}  "
              f"rank {min(ranks.values())}-{max(ranks.values())}  trainable {run.trainable:,}  "
              f"optimizer {run.optimizer_bytes:,} B  wall {run.wall_s:.1f} s  cpu {run.cpu_s:.1f} s")
    print(f"all runs: wall {exp.wall_s:.1f} s, cpu {exp.cpu_s:.1f} s, {exp.budget.tokens:,} tokens each")


def sweep() -> None:
    for spec in P.RUNS:
        tried = [dataclasses.replace(spec, lr=lr) for lr in SWEEP]
        exp = P.run_experiment(P.Budget(), tuple(tried))
        print(spec.label, "  ".join(f"lr {s.lr:g}: {r.held[-1]:.3f}" for s, r in zip(tried, exp.runs)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="print the held-out loss of each run at each rate")
    if parser.parse_args().sweep:
        sweep()
        return
    exp = P.run_experiment()
    P.ASSET.write_text(exp.to_json() + "\n")
    summary(exp)
    print(f"wrote {P.ASSET}")


if __name__ == "__main__":
    main()
