"""A lab run trains at a lower CPU priority than the page runs (peft_edu/lab/priority.py).

Checked on the real job thread and on the worker threads torch starts from it, read back
from the kernel (/proc/self/task/<tid>/stat, field 19 = nice), not from our own bookkeeping."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from peft_edu.lab import jobs, priority
from tests.tiny import drain_jobs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def kernel_nice(tid: int) -> int:
    """A thread's nice value as the kernel reports it (after the command name in parentheses)."""
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def thread_ids() -> set[int]:
    return {int(t) for t in os.listdir("/proc/self/task")}


@pytest.fixture(autouse=True)
def _clean():
    yield
    drain_jobs()


def test_a_jobs_thread_and_its_torch_workers_run_at_the_lower_priority(monkeypatch):
    monkeypatch.setenv("PEFT_LAB_TRAIN_NICE", "7")
    monkeypatch.setenv("PEFT_LAB_THREADS", "2")  # a parallel op, so torch has worker threads
    page_nice = kernel_nice(threading.get_native_id())
    before = thread_ids()
    seen = {}

    def task(on_metrics, should_stop, on_start):
        a = torch.randn(512, 512)
        for _ in range(20):
            a = torch.tanh(a @ a.T / 512)  # intra-op parallel work on the pool's threads
        me = threading.get_native_id()
        seen["job"] = kernel_nice(me)
        seen["threads"] = torch.get_num_threads()
        seen["new"] = {t: kernel_nice(t) for t in thread_ids() - before - {me}
                       if Path(f"/proc/self/task/{t}").exists()}
        return SimpleNamespace(message="", status="done")

    job = jobs.submit_task(task, object(), owner="priority-test", label_text="nice")
    assert job.wait(60)
    assert seen["job"] == min(19, page_nice + 7)
    assert kernel_nice(threading.get_native_id()) == page_nice  # the test's (page's) thread is untouched
    if seen["threads"] > 1 and seen["new"]:  # torch started its workers from the job's thread
        assert min(seen["new"].values()) == min(19, page_nice + 7), seen["new"]


def test_the_step_from_the_environment(monkeypatch):
    monkeypatch.setenv("PEFT_LAB_TRAIN_NICE", "0")
    assert priority.nice_step() == 0
    for bad in ("-3", "twenty", "25"):
        monkeypatch.setenv("PEFT_LAB_TRAIN_NICE", bad)
        assert priority.nice_step() == priority.DEFAULT_NICE
    monkeypatch.delenv("PEFT_LAB_TRAIN_NICE")
    assert priority.nice_step() == 10


def test_off_leaves_the_thread_alone(monkeypatch):
    monkeypatch.setenv("PEFT_LAB_TRAIN_NICE", "0")
    out = {}

    def run():
        out["before"] = kernel_nice(threading.get_native_id())
        out["after"] = priority.lower_this_thread()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert out["after"] == out["before"]
