"""Background jobs: start, stop, queue, the process-wide limit, owners that go away."""
import gc
import threading
import time

import pytest
import torch

from peft_edu.lab import jobs
from peft_edu.lab.run_config import defaults
from tests.tiny import WordTokenizer, drain_jobs, lab_bert, tiny_task

TOK = WordTokenizer()
TRAIN, TEST = tiny_task(64, seed=0), tiny_task(16, seed=1)
BASE = lab_bert()


@pytest.fixture(autouse=True)
def limit_one():
    jobs.set_max_runs(1)
    yield
    drain_jobs()
    jobs.set_max_runs(None)


def submit(steps=3, owner="alice", **overrides):
    cfg = defaults("lora", steps=steps, batch_size=8, max_length=16, eval_every=1000, **overrides)
    return jobs.submit(cfg, BASE, TOK, TRAIN, TEST, owner=owner, device="cpu")


def wait_until(condition, timeout=30.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_job_runs_in_background_and_reports_every_step():
    job = submit(steps=4)
    assert job.wait(60)
    view = job.view()
    assert view.status == "done" and view.progress == 1.0 and view.eta_s == 0.0
    assert [m.step for m in view.metrics] == [1, 2, 3, 4]
    assert view.result.test_accuracy is not None and view.result.trainable > 0
    assert view.label == "LoRA r=8 alpha=16"
    assert view.trainable == view.result.trainable and view.total == view.result.total
    assert view.device == "cpu"


def test_stop_ends_a_running_job():
    job = submit(steps=100_000)
    wait_until(lambda: len(job.metrics) >= 2)
    assert 0 < job.view().trainable < job.view().total  # known while it runs
    job.stop()
    assert job.wait(30)
    assert job.status == "stopped" and "of 100,000 steps" in job.message
    assert job.result.model is not None


def test_queue_positions_and_limit_of_one():
    first, second, third = submit(steps=100_000), submit(steps=2), submit(steps=2)
    wait_until(lambda: first.status == "running")
    assert (first.queue_position(), second.queue_position(), third.queue_position()) == (None, 1, 2)
    assert second.view().status == "queued" and second.view().eta_s is None
    time.sleep(0.3)
    assert second.metrics == [] and third.metrics == []  # the limit holds them back
    first.stop()
    assert second.wait(60) and third.wait(60)
    assert second.status == third.status == "done"


def test_limit_of_two_runs_two_at_once():
    jobs.set_max_runs(2)
    a, b = submit(steps=100_000), submit(steps=100_000)
    wait_until(lambda: a.status == b.status == "running")
    c = submit(steps=2)
    time.sleep(0.3)
    assert c.queue_position() == 1
    assert len([j for j in jobs.active_jobs() if j.status == "running"]) == 2


def test_stopping_a_queued_job_cancels_it_and_moves_the_queue():
    first, second, third = submit(steps=100_000), submit(steps=2), submit(steps=2)
    wait_until(lambda: first.status == "running")
    second.stop()
    assert second.wait(10) and second.status == "cancelled"
    wait_until(lambda: third.queue_position() == 1)
    first.stop()
    assert third.wait(60) and third.status == "done"


def test_nan_run_ends_as_diverged_with_its_message():
    base = lab_bert()
    with torch.no_grad():
        base.classifier.bias.fill_(float("nan"))
    job = jobs.submit(defaults("lora", steps=5, max_length=16), base, TOK, TRAIN, TEST, owner="bob")
    assert job.wait(30)
    assert job.status == "diverged" and "lower learning rate" in job.message


def test_failed_run_is_reported_not_raised():
    job = jobs.submit(defaults("lora", targets="nonexistent", max_length=16), BASE, TOK, TRAIN, TEST)
    assert job.wait(30)
    assert job.status == "failed" and "nonexistent" in job.message


def test_bad_config_is_refused_at_submit():
    with pytest.raises(ValueError, match="steps must be > 0"):
        submit(steps=0)


def test_a_closed_session_stops_its_jobs():
    owner = jobs.Owner()
    job = submit(steps=100_000, owner=owner)
    owner_id = owner.id
    wait_until(lambda: job.status == "running")
    assert jobs.jobs_of(owner_id) == [job]
    del owner
    gc.collect()
    assert job.wait(30) and job.status == "stopped"
    assert jobs.jobs_of(owner_id) == []


def test_stop_orphans_keeps_live_sessions():
    jobs.set_max_runs(2)
    mine, theirs = submit(steps=100_000, owner="alive"), submit(steps=100_000, owner="gone")
    assert jobs.stop_orphans({"alive"}) == 1
    assert theirs.wait(30) and not mine.finished
    assert jobs.jobs_of("gone") == [] and jobs.jobs_of("alive") == [mine]


def test_max_runs_from_the_environment(monkeypatch):
    jobs.set_max_runs(None)
    monkeypatch.setenv("PEFT_LAB_MAX_RUNS", "3")
    assert jobs.max_runs() == 3
    monkeypatch.setenv("PEFT_LAB_MAX_RUNS", "zero")
    assert jobs.max_runs() == (2 if torch.cuda.is_available() else 1)
    with pytest.raises(ValueError):
        jobs.set_max_runs(0)


def test_old_models_are_released_but_their_numbers_kept(monkeypatch):
    monkeypatch.setenv("PEFT_LAB_KEEP_MODELS", "2")
    runs = [submit(steps=1, owner="carol") for _ in range(3)]
    assert all(job.wait(60) for job in runs)
    assert [job.result.model is None for job in runs] == [True, False, False]
    assert all(job.result.test_accuracy is not None and len(job.metrics) == 1 for job in runs)


def test_any_task_shares_the_queue_and_stops():
    """submit_task: another kind of run waits for the lab's slot and obeys Stop."""
    import types

    jobs.set_max_runs(1)
    try:
        started = threading.Event()

        def slow(on_metrics, should_stop, on_start):
            on_start(10, 100, "cpu")
            started.set()
            for step in range(1, 1000):
                if should_stop():
                    return types.SimpleNamespace(status="stopped", message=f"stopped at {step}")
                on_metrics(types.SimpleNamespace(step=step, steps=1000, eta_s=1.0))
                time.sleep(0.01)
            return types.SimpleNamespace(status="done", message="")

        def quick(on_metrics, should_stop, on_start):
            on_metrics(types.SimpleNamespace(step=1, steps=1, eta_s=0.0))
            return types.SimpleNamespace(status="done", message="")

        first = jobs.submit_task(slow, object(), owner="t", label_text="slow")
        assert started.wait(10)
        second = jobs.submit_task(quick, object(), owner="t", label_text="quick")
        time.sleep(0.1)
        assert second.view().status == "queued" and second.queue_position() == 1
        first.stop()
        assert first.wait(10) and second.wait(10)
        assert first.view().status == "stopped" and first.view().trainable == 10
        assert second.view().status == "done" and second.view().progress == 1.0
    finally:
        jobs.set_max_runs(None)
