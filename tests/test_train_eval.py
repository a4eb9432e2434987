"""The lab loop's evaluations, time to a target accuracy and ETA (peft_edu.lab.train) on a tiny BERT."""
import statistics
import time
import types

import pytest

import peft_edu.lab.train as train_module
from peft_edu.lab.data import encode_cached
from peft_edu.lab.metrics import StepMetrics, accuracy, seconds_to_accuracy
from peft_edu.lab.run_config import RunConfig, defaults
from peft_edu.lab.train import _Clock, train
from tests.tiny import WordTokenizer, lab_bert, one_torch_thread, tiny_task

TOK = WordTokenizer()
TRAIN, TEST = tiny_task(96, seed=0), tiny_task(64, seed=1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from one_torch_thread()


def test_subset_evaluations_during_training_and_the_whole_split_at_the_end(monkeypatch):
    seen = []
    real = train_module.accuracy

    def counting(model, enc, device="cpu", limit=0):
        seen.append(limit)
        return real(model, enc, device, limit=limit)

    monkeypatch.setattr(train_module, "accuracy", counting)
    cfg = defaults("lora", lr=1e-2, head_lr=1e-2, steps=30, batch_size=8, max_length=16, eval_every=7,
                   eval_examples=16)
    result = train(cfg, lab_bert(), TOK, TRAIN, TEST, device="cpu")
    assert [m.step for m in result.metrics if m.test_acc is not None] == [7, 14, 21, 28, 30]
    assert seen == [16, 16, 16, 16, 64]  # the fixed subset 4 times, then all 64 texts once, not twice
    enc = encode_cached(TOK, TEST, 16)
    assert result.test_accuracy == result.metrics[-1].test_acc == pytest.approx(accuracy(result.model, enc))
    assert all(m.test_acc * 16 == pytest.approx(round(m.test_acc * 16)) for m in result.metrics[6:28:7])


def test_a_stopped_run_is_scored_on_the_whole_split():
    calls = []
    cfg = defaults("lora", steps=50, batch_size=8, max_length=16, eval_every=2, eval_examples=8)
    result = train(cfg, lab_bert(), TOK, TRAIN, TEST, on_metrics=calls.append,
                   should_stop=lambda: len(calls) >= 3, device="cpu")
    assert result.status == "stopped"
    assert result.test_accuracy == pytest.approx(accuracy(result.model, encode_cached(TOK, TEST, 16)))


def test_seconds_to_accuracy_is_the_first_evaluation_at_the_target():
    def m(step, acc, elapsed):
        return StepMetrics(step, 4, 0.5, 0.5, acc, 0.1, 0, 1.0, elapsed)

    metrics = [m(1, None, 1.0), m(2, 0.85, 2.0), m(3, 0.95, 3.0), m(4, 0.92, 4.0)]
    assert seconds_to_accuracy(metrics, 0.9) == 3.0
    assert seconds_to_accuracy(metrics, 0.85) == 2.0
    assert seconds_to_accuracy(metrics, 0.99) is None
    result = train_module.TrainResult("done", "", None, metrics)
    assert result.seconds_to_accuracy(0.9) == 3.0


def test_eta_counts_the_steps_and_evaluations_left():
    cfg = RunConfig(steps=10, eval_every=4, eval_examples=8, batch_size=16, config=None)
    clock = _Clock(cfg, n_test=20)
    for seconds in (1.0, 3.0, 1.0):  # iterations, evaluation excluded
        clock.lap(seconds)
    clock.evaluated(0.8, 8)  # 0.1 s per test text
    clock.lap(1.0 + 0.8)  # step 4 evaluated: its lap counts 1.0 without the evaluation
    per_step = (1.0 + 3.0 + 1.0 + 1.0) / 4  # the mean: the time left is a sum of such steps
    for step in range(5, 10):
        subset_evals = sum(1 for s in range(step + 1, 10) if s % 4 == 0)  # step 10 scores all 20 texts
        assert clock.eta(step, time.perf_counter()) == pytest.approx(per_step * (10 - step) + 0.1 * (8 * subset_evals + 20))
    assert clock.eta(10, time.perf_counter()) == 0.0


def test_eta_at_mid_run_is_within_20_percent_of_the_real_remaining_time(monkeypatch):
    """A real run timed in this thread's CPU seconds, so other processes on a shared machine do not
    stretch the truth after the estimate was made; the estimate comes from the run's own steps."""
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(perf_counter=time.thread_time))
    cfg = defaults("lora", steps=120, batch_size=8, max_length=16, eval_every=10, eval_examples=16)
    result = train(cfg, lab_bert(), TOK, TRAIN, TEST, device="cpu")
    ratios = [m.eta_s / (result.seconds - m.elapsed_s) for m in result.metrics[30:90:10]]  # steps 31 .. 81
    assert abs(statistics.median(ratios) - 1.0) <= 0.2, ratios
