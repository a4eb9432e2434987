"""Fair shares of the lab's queue: the teacher's per-learner limits, the expected wait, the runs
of learners who left. Real jobs on the tiny BERT (tests/tiny.py); the waits are checked against
closed forms written out here."""
import logging
import threading
import time
import types

import pytest

from peft_edu.lab import absence, jobs, limits
from peft_edu.lab.limits import LimitError, Limits
from peft_edu.lab.run_config import defaults
from tests.tiny import WordTokenizer, drain_jobs, lab_bert, tiny_task

TOK = WordTokenizer()
TRAIN, TEST = tiny_task(64, seed=0), tiny_task(16, seed=1)
BASE = lab_bert()


@pytest.fixture(autouse=True)
def one_slot():
    jobs.set_max_runs(1)
    jobs.set_limits(allow())
    yield
    drain_jobs()
    jobs.set_max_runs(None)
    jobs.set_limits(None)
    absence._ABSENT_SINCE.clear()  # the tests below mix made-up clocks


def allow(**limits_) -> Limits:
    """The default limits but for steps: the long runs here are stopped, never trained out."""
    return Limits(**{"max_steps": 1_000_000, **limits_})


def run(steps=100_000, learner="ann", race=None, method="lora", **kwargs):
    cfg = defaults(method, steps=steps, batch_size=8, max_length=16, eval_every=1000)
    return jobs.submit(cfg, BASE, TOK, TRAIN, TEST, owner=learner or "app", device="cpu", learner=learner,
                       race=race, **kwargs)


def wait_until(condition, timeout=30.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


# ---------------------------------------------------------------- limits from the environment
def test_limits_from_the_environment_with_defaults_and_bad_values_logged(caplog):
    assert limits.from_env({}) == Limits(runs_per_learner=1, max_race=4, max_steps=500, abandoned_s=60.0)
    env = {"PEFT_LAB_RUNS_PER_LEARNER": "2", "PEFT_LAB_MAX_RACE": "3", "PEFT_LAB_MAX_STEPS": "50",
           "PEFT_LAB_ABANDONED_S": "12.5"}
    assert limits.from_env(env) == Limits(2, 3, 50, 12.5)
    bad = {"PEFT_LAB_RUNS_PER_LEARNER": "0", "PEFT_LAB_MAX_RACE": "-1", "PEFT_LAB_MAX_STEPS": "lots",
           "PEFT_LAB_ABANDONED_S": "nan"}
    with caplog.at_level(logging.WARNING, logger="peft_edu.lab.limits"):
        assert limits.from_env(bad) == Limits()
    logged = caplog.text
    assert all(name in logged for name in bad), logged
    assert limits.from_env({"PEFT_LAB_ABANDONED_S": "0"}).abandoned_s == 0.0  # 0 = never


def test_jobs_read_the_limits_from_the_environment(monkeypatch):
    jobs.set_limits(None)
    monkeypatch.setenv("PEFT_LAB_MAX_STEPS", "7")
    assert jobs.limits().max_steps == 7
    with pytest.raises(LimitError, match="at most 7 steps"):
        run(steps=8)


# ---------------------------------------------------------------- one entry per learner
def test_one_run_per_learner_others_unaffected_and_stop_frees_the_entry():
    first = run()
    wait_until(lambda: first.status == "running")
    with pytest.raises(LimitError) as refused:
        run(steps=3)
    message = str(refused.value)
    assert "You already have a run queued or training (LoRA r=8 alpha=16, training)" in message
    assert "your teacher allows 1 at a time" in message
    assert [j.learner for j in jobs.jobs_of("ann")] == ["ann"]  # the refused run was never queued
    other = run(steps=3, learner="bob")  # another learner is not held back
    assert other.queue_position() == 1
    first.stop()  # a run whose Stop was pressed no longer counts: Start again at once
    again = run(steps=3)
    assert again.wait(60) and other.wait(60) and again.status == other.status == "done"


def test_the_refusal_names_the_queue_place():
    blocker = run(learner="zed")
    wait_until(lambda: blocker.status == "running")
    mine = run(steps=3)
    assert mine.queue_position() == 1
    with pytest.raises(LimitError, match=r"\(LoRA r=8 alpha=16, place 1 in the queue\)"):
        run(steps=3)


def test_runs_of_nobody_in_particular_have_no_limits():
    """The shared baseline and library use (no ``learner``): any number, any steps."""
    jobs.set_limits(Limits(max_steps=10))
    runs = [run(steps=20, learner=None) for _ in range(3)]  # no LimitError
    wait_until(lambda: runs[0].status == "running")
    assert [j.queue_position() for j in runs[1:]] == [1, 2]


def test_a_teacher_may_allow_more_runs_per_learner():
    jobs.set_limits(allow(runs_per_learner=2))
    run(), run(steps=3)
    with pytest.raises(LimitError, match="You already have runs queued or training.*2 at a time"):
        run(steps=3)


def test_steps_above_the_cap_are_refused():
    jobs.set_limits(Limits(max_steps=10))
    with pytest.raises(LimitError, match="11 steps is more than this class allows: your teacher set at most 10"):
        run(steps=11)
    assert run(steps=10).wait(60)


def test_a_race_is_one_entry_of_at_most_max_race_runs():
    with pytest.raises(LimitError, match="A race of 5 runs .* at most 4 runs per race"):
        jobs.check_entry("ann", steps=3, runs=5)
    jobs.check_entry("ann", steps=3, runs=4)  # allowed: checked whole, before its first run
    race = [run(race="r1", method=m) for m in ("lora", "ia3", "bitfit", "dora")]
    assert len({j.race for j in race}) == 1
    with pytest.raises(LimitError, match="A race of 5 runs"):  # a fifth run cannot join it
        run(race="r1", method="vera")
    with pytest.raises(LimitError, match="You already have a race queued or training \\(a race of 4: "):
        run(steps=3)  # nor can a new entry start beside it
    for job in race:
        job.stop()
    assert run(steps=3).wait(60)


def test_two_tabs_pressing_start_together_queue_one_run():
    barrier, got, refused = threading.Barrier(4), [], []

    def press():
        barrier.wait()
        try:
            got.append(run(steps=3))
        except LimitError:
            refused.append(1)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 1 and len(refused) == 3


# ---------------------------------------------------------------- the expected wait
def test_expected_wait_closed_forms():
    # one slot: the running job's 10 s left, then 20 s and 5 s ahead -> 35 s
    assert limits.expected_wait([10.0], [20.0, 5.0], 1) == 35.0
    # two slots, 10 s and 30 s left, two 20 s jobs ahead: they start at 10 (ends 30) and 30 -> next free at 30
    assert limits.expected_wait([10.0, 30.0], [20.0, 20.0], 2) == 30.0
    assert limits.expected_wait([], [], 2) == 0.0  # a free slot: it starts at once
    assert limits.expected_wait([40.0], [], 2) == 0.0
    # more running than slots (the limit was lowered): a slot frees once two of three have ended
    assert limits.expected_wait([5.0, 10.0, 20.0], [], 2) == 10.0


def _task(eta_s, release, steps):
    """A task that reports ``eta_s`` left at every step and runs until ``release`` is set."""
    def task(on_metrics, should_stop, on_start):
        on_start(1, 2, "cpu")
        step = 0
        while not (release.is_set() or should_stop()):
            step += 1
            on_metrics(types.SimpleNamespace(step=step, steps=steps, eta_s=eta_s))
            time.sleep(0.01)
        return types.SimpleNamespace(status="done", message="")
    return task


def test_expected_wait_of_a_real_queue(monkeypatch):
    """One slot. A running run with 30 s left, then queued: a 100-step and a 50-step run of kinds
    measured at 0.2 s and 0.4 s per step (20 s each), then a last one: they wait 30, 50, 70 s.
    Two slots: the first queued run starts (20 s, as it says); the 50-step one waits for it
    (20 s) and the last for the run with 30 s left."""
    release = threading.Event()
    cfg = types.SimpleNamespace(steps=100, method="a")
    monkeypatch.setattr(jobs, "_PER_STEP", {("SimpleNamespace", "a"): 0.2, ("SimpleNamespace", "b"): 0.4,
                                            jobs.ANY: 1.0})
    try:
        running = jobs.submit_task(_task(30.0, release, 100), cfg, owner="x", learner="x")
        wait_until(lambda: running.metrics)
        a = jobs.submit_task(_task(20.0, release, 100), cfg, owner="y", learner="y")
        b = jobs.submit_task(_task(0, release, 50), types.SimpleNamespace(steps=50, method="b"), owner="z")
        last = jobs.submit_task(_task(0, release, 10), types.SimpleNamespace(steps=10, method="c"), owner="w")
        assert running.view().wait_s is None
        assert a.view().wait_s == pytest.approx(30.0)
        assert b.view().wait_s == pytest.approx(50.0)
        assert last.view().wait_s == pytest.approx(70.0)
        jobs.set_max_runs(2)
        wait_until(lambda: a.status == "running")
        assert b.view().wait_s == pytest.approx(20.0) and last.view().wait_s == pytest.approx(30.0)
    finally:
        release.set()


def test_seconds_per_step_is_measured_from_the_last_run_that_ended():
    step_s = 0.05

    def slow(on_metrics, should_stop, on_start):
        for step in range(1, 11):
            time.sleep(step_s)
            on_metrics(types.SimpleNamespace(step=step, steps=10, eta_s=(10 - step) * step_s))
        return types.SimpleNamespace(status="done", message="")

    cfg = types.SimpleNamespace(steps=10, method="slow")
    t0 = time.monotonic()
    job = jobs.submit_task(slow, cfg, owner="m")
    assert job.wait(30)
    outer = (time.monotonic() - t0) / 10
    measured = jobs.seconds_per_step(job)
    assert step_s <= measured <= outer  # the job's own wall time per step, within the test's
    other = jobs.submit_task(slow, types.SimpleNamespace(steps=10, method="never-ran"), owner="m")
    assert jobs.seconds_per_step(other) == measured  # no run of its kind yet: the last of any kind


# ---------------------------------------------------------------- learners who left
def test_runs_of_a_learner_with_no_open_tab_stop_after_the_grace_period():
    jobs.set_limits(allow(runs_per_learner=2, abandoned_s=60))
    kept = []
    running = run(on_done=kept.append)
    wait_until(lambda: len(running.metrics) >= 2)
    queued = run(steps=3, on_done=kept.append)
    theirs = run(learner="bob")
    app_run = run(learner=None)
    assert absence.stop_abandoned({"bob"}, now=1000.0) == []  # ann first missed at t=1000
    assert absence.stop_abandoned({"bob"}, now=1059.0) == []
    assert absence.stop_abandoned({"ann", "bob"}, now=1059.5) == []  # back (a refresh): the clock restarts
    assert absence.stop_abandoned({"bob"}, now=1100.0) == []
    assert absence.stop_abandoned({"bob"}, now=1159.9) == []
    assert absence.stop_abandoned({"bob"}, now=1160.0) == ["ann"]
    assert running.wait(30) and queued.wait(30)
    assert running.status == "stopped" and "No tab of yours was open for 60 s" in running.message
    assert queued.status == "cancelled" and "No tab of yours" in queued.message
    assert set(kept) == {running, queued}  # on_done ran for both: their results are kept
    assert running.result.model is not None and running.metrics  # what it learned so far
    assert not theirs.finished and not app_run.finished  # bob is here; a run of nobody is never stopped


def test_a_grace_of_zero_never_stops_anything():
    jobs.set_limits(allow(abandoned_s=0))
    job = run()
    assert absence.stop_abandoned(set(), now=0.0) == [] and absence.stop_abandoned(set(), now=1e9) == []
    assert not job.stopping


def test_the_watcher_thread_asks_who_is_there_and_cannot_tell_means_stop_nothing():
    jobs.set_limits(allow(abandoned_s=0.3))
    answers = {"alive": None}
    job = run()
    try:
        absence.watch_learners(lambda: answers["alive"], every_s=0.05)
        time.sleep(0.6)
        assert not job.stopping  # "cannot tell": nothing stopped
        answers["alive"] = set()
        assert job.wait(30) and job.status == "stopped"
    finally:
        absence.watch_learners(lambda: None, every_s=0.5)
