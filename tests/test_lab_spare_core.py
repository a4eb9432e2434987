"""A lab run leaves a core to the pages while a class is browsing (peft_edu/lab/priority.py)."""
from __future__ import annotations

import pytest
import torch

from peft_edu.lab import jobs, priority
from peft_edu.lab import train as lab_train
from tests.tiny import drain_jobs


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.delenv("PEFT_LAB_THREADS", raising=False)
    monkeypatch.delenv("PEFT_LAB_BUSY_PAGE_RUNS", raising=False)
    monkeypatch.setattr(lab_train, "runnable_now", lambda: 0)  # the machine's own load aside
    priority._PAGE_RUNS.clear()
    threads = torch.get_num_threads()
    yield
    priority._PAGE_RUNS.clear()
    drain_jobs()
    torch.set_num_threads(threads)


def test_a_few_page_runs_are_a_learner_many_are_a_class(monkeypatch):
    for _ in range(priority.DEFAULT_BUSY_PAGE_RUNS - 1):
        priority.page_ran()
    assert not priority.class_browsing()
    priority.page_ran()
    assert priority.class_browsing()
    monkeypatch.setattr(priority, "BUSY_WINDOW_S", 0.0)  # all of them longer ago than the window
    assert not priority.class_browsing()


@pytest.mark.parametrize("raw, expected", [("", 20), ("5", 5), ("0", 0), ("many", 20)])
def test_the_threshold_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("PEFT_LAB_BUSY_PAGE_RUNS", raw)
    assert priority.busy_page_runs() == expected


def test_off_never_sees_a_class(monkeypatch):
    monkeypatch.setenv("PEFT_LAB_BUSY_PAGE_RUNS", "0")
    for _ in range(50):
        priority.page_ran()
    assert not priority.class_browsing()


@pytest.mark.parametrize("cores, runs, spare, expected", [(4, 1, False, 4), (4, 1, True, 3), (4, 2, True, 1),
                                                          (2, 1, True, 1), (1, 1, True, 1), (8, 2, True, 3)])
def test_training_threads_leave_a_core(monkeypatch, cores, runs, spare, expected):
    monkeypatch.setattr(lab_train, "cpu_cores", lambda: cores)
    monkeypatch.setattr(lab_train.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert lab_train.training_threads(runs, spare_core=spare) == expected


def test_a_page_run_counts_and_a_job_started_meanwhile_trains_on_a_core_fewer(monkeypatch):
    from ui import perf

    monkeypatch.setattr(lab_train, "cpu_cores", lambda: 4)
    monkeypatch.setattr(lab_train.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(jobs, "max_runs", lambda: 1)

    def threads_of_a_job() -> int:
        seen = {}

        def task(on_metrics, should_stop, on_start):
            seen["threads"] = torch.get_num_threads()
            from types import SimpleNamespace
            return SimpleNamespace(status="done", message="")

        job = jobs.submit_task(task, object(), owner="spare-core-test", label_text="threads")
        assert job.wait(30)
        return seen["threads"]

    assert threads_of_a_job() == 4  # nobody browsing: every core
    for _ in range(priority.DEFAULT_BUSY_PAGE_RUNS):
        perf.Clock().done("test")  # what app.py does around every page run
    assert threads_of_a_job() == 3
