"""Measure the Semantic search lab's claim: LoRA on the shipped help-desk set raises held-out
recall@10 by >= 10 points over the base all-MiniLM-L6-v2, within 60 s wall on a 2-core CPU.

    HF_HUB_OFFLINE=1 python3 benchmarks/embedding_search.py [method] [steps] [batch] [lr]

Prints the base and tuned metrics, the run's wall time and the load average (other work on
the machine slows the run: the number is only meaningful next to it).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from peft_edu.lab.train import training_threads  # noqa: E402
from peft_edu.embeddings.data import load_builtin  # noqa: E402
from peft_edu.embeddings.model import load_encoder  # noqa: E402
from peft_edu.embeddings.train import defaults, train  # noqa: E402


def main() -> None:
    method = sys.argv[1] if len(sys.argv) > 1 else "lora"
    overrides = {}
    for name, arg, kind in (("steps", 2, int), ("batch_size", 3, int), ("lr", 4, float)):
        if len(sys.argv) > arg:
            overrides[name] = kind(sys.argv[arg])
    torch.set_num_threads(training_threads())  # as a job of the lab would
    base, tokenizer = load_encoder()
    data = load_builtin()
    cfg = defaults(method, **overrides)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result = train(cfg, base, tokenizer, data)
    wall = time.perf_counter() - t0
    print(f"{method}: {cfg.steps} steps, batch {cfg.batch_size}, lr {cfg.lr:g}, status {result.status} {result.message}")
    for name in result.before:
        print(f"  {name:10s} base {100 * result.before[name]:5.1f}  tuned {100 * result.after.get(name, float('nan')):5.1f}")
    print(f"  by dims (recall@10 base -> tuned): {result.by_dims}")
    print(f"  wall {wall:.1f} s (whole run: base metrics, training, final evaluation); "
          f"threads {torch.get_num_threads()}; load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
