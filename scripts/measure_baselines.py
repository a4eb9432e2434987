"""Record the live-lab runs the BitFit / LN tuning lesson draws (assets/data/baseline_runs.json).

    HF_HUB_OFFLINE=1 python3 scripts/measure_baselines.py [head_only lora bitfit ln_tuning ...]

Each method runs with its lab defaults (``peft_edu.lab.run_config.defaults``) on
all-MiniLM-L6-v2 and the shipped data, exactly as the lab runs it; the file keeps the
trainable count without the head, the test accuracy, the wall time and the load average.
Methods named on the command line are (re)measured and merged into the existing file.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from peft_edu.lab.data import load_builtin  # noqa: E402
from peft_edu.lab.run_config import defaults  # noqa: E402
from peft_edu.lab.train import train  # noqa: E402
from peft_edu.lessons.baselines import RUNS_FILE  # noqa: E402
from peft_edu.models import load_pretrained  # noqa: E402

DEFAULT = ("head_only", "lora", "bitfit", "ln_tuning")


def measure(method: str, base, tokenizer, train_set, test_set) -> dict:
    cfg = defaults(method)
    t0 = time.perf_counter()
    result = train(cfg, base, tokenizer, train_set, test_set)
    head = sum(p.numel() for p in result.model.classifier.parameters())
    row = {"method": method, "trainable": result.trainable - head, "total": result.total - head,
           "accuracy": round(result.test_accuracy or 0.0, 4), "lr": cfg.lr, "steps": cfg.steps,
           "model_dropout": cfg.model_dropout,
           "seconds": round(time.perf_counter() - t0, 1), "load": round(os.getloadavg()[0], 2)}
    print(row, flush=True)
    return row


def main(methods: list[str]) -> None:
    base, tokenizer = load_pretrained()
    train_set, test_set = load_builtin()
    old = json.loads(RUNS_FILE.read_text())["runs"] if RUNS_FILE.exists() else []
    rows = {row["method"]: row for row in old}
    for method in methods:
        rows[method] = measure(method, base, tokenizer, train_set, test_set)
    order = [m for m in DEFAULT if m in rows] + [m for m in rows if m not in DEFAULT]
    RUNS_FILE.write_text(json.dumps({"model": "all-MiniLM-L6-v2", "runs": [rows[m] for m in order]}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or list(DEFAULT))
