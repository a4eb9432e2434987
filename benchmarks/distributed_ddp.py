"""Time real 2-process gloo DDP runs of the MiniLM (full fine-tuning and LoRA) and print the
measured bytes beside 2(N−1)/N · K · bytes: ``python benchmarks/distributed_ddp.py [steps]``.

Prints the load average too: on a shared machine the other processes' load is part of the time.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peft_edu.distributed.launch import run  # noqa: E402
from peft_edu.distributed.report import summarize  # noqa: E402
from peft_edu.distributed.spec import RunSpec  # noqa: E402


def main(steps: int = 8) -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    sent = {}
    for label, method, options in (("full", "full", ()), ("lora r=8", "lora", (("r", 8),))):
        result = run(RunSpec(method=method, options=options, steps=steps))
        if result.status != "done":
            print(f"{label}: {result.status}: {result.message}")
            continue
        s = summarize(result, label)
        sent[label] = s.sent_bytes
        print(f"{label:9s} wall {s.wall_s:5.1f} s | step {1e3 * s.step_s:6.0f} ms (comm {1e3 * s.comm_s:5.1f} ms) | "
              f"Φ {s.trainable:,} | sent/step {s.sent_bytes:,} B, formula {s.formula_bytes:,.0f} B | "
              f"load {os.getloadavg()[0]:.2f}")
    if len(sent) == 2:
        print(f"full / LoRA bytes per step: {sent['full'] / sent['lora r=8']:,.0f}×")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
