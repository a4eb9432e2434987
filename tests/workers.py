"""Which distributed-training workers (``python -m peft_edu.distributed.worker``) are alive.

Tests check that none outlives its run. Only the workers count: other children of the test
process (the e2e tests' browser and driver, which live for the whole session) are not theirs."""
from __future__ import annotations

import psutil

WORKER = "peft_edu.distributed.worker"


def live_workers(parent: psutil.Process | None = None) -> list[psutil.Process]:
    """Worker processes below ``parent`` (default: this process) that are still running."""
    out = []
    for child in (parent or psutil.Process()).children(recursive=True):
        try:
            if WORKER in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out
