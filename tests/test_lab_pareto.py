"""The lab race's Pareto chart, below the page: the drift measure (the lab's stand-in for
forgetting) against closed forms and on real short runs, its place outside the run's time,
kept results with and without it, races kept in the store (an old database too), the points."""
from __future__ import annotations

import copy
import math
import time
from datetime import datetime, timezone

import pytest
import torch
from sqlalchemy import create_engine, text

from peft_edu.lab import drift as drift_module
from peft_edu.lab import pareto
from peft_edu.lab.drift import drift, encoder_drift, general_texts, sentence_embeddings
from peft_edu.lab.data import Dataset, encode
from peft_edu.lab.run_config import defaults
from peft_edu.lab.saved import result_doc, saved_view
from peft_edu.lab.train import TrainResult, train
from peft_edu.store import open_store, runs
from tests.stores import postgres_server, store_url  # noqa: F401  (fixtures)
from tests.tiny import WordTokenizer, lab_bert, one_torch_thread, tiny_task

TOK = WordTokenizer()
TRAIN, TEST = tiny_task(64, seed=0), tiny_task(16, seed=1)
GENERAL = tiny_task(24, seed=7).texts  # the tiny language's "general text": not the training or test sentences


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from one_torch_thread()


def _run(method: str, steps: int = 20, lr: float = 1e-2, texts=GENERAL) -> TrainResult:
    cfg = defaults(method, steps=steps, batch_size=8, eval_every=steps, max_length=16, lr=lr, head_lr=lr)
    return train(cfg, lab_bert(), TOK, TRAIN, TEST, device="cpu", general_texts=texts)


# ---------------------------------------------------------------- the measure, closed forms
def test_drift_of_identical_embeddings_is_exactly_zero():
    torch.manual_seed(0)
    u = torch.randn(7, 32) * 3
    assert drift(u, u.clone()) == 0.0
    assert drift(u, 2.5 * u) == pytest.approx(0.0, abs=1e-12)  # a cosine does not see the length


def test_drift_is_one_minus_the_mean_cosine_of_hand_made_embeddings():
    """Row i of ``tuned`` is row i of ``base`` turned by angle θ_i in a plane: cos = cos θ_i."""
    angles = [0.0, math.pi / 3, math.pi / 2, math.pi]  # cos 1, 0.5, 0, -1
    base = torch.tensor([[2.0, 0.0, 0.0]] * 4)
    tuned = torch.tensor([[math.cos(a), math.sin(a), 0.0] for a in angles]) * 5
    assert drift(base[1:2], tuned[1:2]) == pytest.approx(0.5)
    assert drift(base[2:3], tuned[2:3]) == pytest.approx(1.0)  # orthogonal
    assert drift(base[3:4], tuned[3:4]) == pytest.approx(2.0)  # opposite: the largest drift
    assert drift(base, tuned) == pytest.approx(1 - (1 + 0.5 + 0 - 1) / 4)


def test_sentence_embeddings_are_the_mean_of_the_real_tokens_last_hidden_states():
    model = lab_bert()
    enc = encode(TOK, Dataset(("good film", "the plot was very bad"), (0, 0), ()), 16)
    got = sentence_embeddings(model, enc)
    with torch.no_grad():
        for i, n_words in enumerate((2, 5)):
            ids = enc.input_ids[i: i + 1, : n_words + 1]  # [CLS] and the words, no padding
            hidden = model.bert(input_ids=ids).last_hidden_state[0]  # (T, d)
            assert torch.allclose(got[i], hidden.mean(dim=0), atol=1e-5)


def test_an_unchanged_encoder_measures_zero_and_a_moved_one_more():
    base = lab_bert()
    same = copy.deepcopy(base)
    assert encoder_drift(base, same, TOK, GENERAL, 16) == 0.0
    with torch.no_grad():
        weight = same.bert.encoder.layer[0].intermediate.dense.weight
        weight.add_(0.5 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    assert encoder_drift(base, same, TOK, GENERAL, 16) > 1e-4


def test_the_shipped_general_text_is_not_the_lab_task():
    from peft_edu.lab.data import load_builtin

    texts = general_texts()
    train_set, test_set = load_builtin()
    assert len(texts) == drift_module.N_GENERAL == len(set(texts))
    assert not set(texts) & (set(train_set.texts) | set(test_set.texts))
    assert not any("City" in t for t in texts)  # nothing about the football task


# ---------------------------------------------------------------- on real short runs
def test_head_only_cannot_move_the_encoder_and_measures_zero():
    result = _run("head_only", steps=10)
    assert result.status == "done" and result.drift == 0.0


def test_full_fine_tuning_drifts_more_than_lora():
    full, lora = _run("full"), _run("lora")
    assert full.status == lora.status == "done"
    assert full.drift > lora.drift > 0, (full.drift, lora.drift)


def test_no_general_text_no_drift():
    assert _run("lora", steps=2, texts=()).drift is None


def test_the_drift_is_measured_after_the_runs_time(monkeypatch):
    """A slow measure (1 s) changes neither ``seconds`` nor the time to an accuracy."""
    def slow(*args, **kwargs):
        time.sleep(1.0)
        return 0.25

    monkeypatch.setattr(drift_module, "encoder_drift", slow)
    started = time.perf_counter()
    result = _run("lora", steps=3)
    wall = time.perf_counter() - started
    assert result.drift == 0.25
    assert result.seconds <= wall - 1.0
    assert result.metrics[-1].elapsed_s <= result.seconds


# ---------------------------------------------------------------- kept in the store
def _finished(store, learner_id: str, race: str | None, result: TrainResult, method: str = "lora") -> str:
    run_id = runs.new_run_id()
    cfg = defaults(method, steps=2)
    from peft_edu.lab.saved import config_doc

    runs.add_run(store, learner_id, run_id, job_id="", label=f"Race 1 · {method}", method=method, data_name="d",
                 config=config_doc(cfg), label_names=("neg", "pos"), race=race)
    runs.finish_run(store, learner_id, run_id, status="done", message="", curves=[], result=result_doc(result))
    return run_id


def test_a_race_and_its_drifts_are_kept(store_url, tmp_path):
    store = open_store(store_url, tmp_path / "data")
    ann, _ = store.new_learner("Ann")
    kept = {}
    for method, drift_value, acc in (("lora", 0.01, 0.9), ("full", 0.2, 0.95)):
        result = TrainResult("done", "", None, test_accuracy=acc, trainable=10, total=100, seconds=1.0,
                             drift=drift_value)
        kept[_finished(store, ann.id, "race-abc", result, method)] = drift_value
    _finished(store, ann.id, None, TrainResult("done", "", None, test_accuracy=0.5, total=1))  # alone, in no race
    saved = runs.runs_of(store, ann.id)
    assert [r.race for r in saved] == ["race-abc", "race-abc", None]
    assert {r.id: saved_view(r).result.drift for r in saved[:2]} == kept
    (race,) = pareto.finished_races(saved)
    assert race == "race-abc"
    store.close()


def test_an_old_database_upgrades_and_its_runs_load_without_race_or_drift(store_url, tmp_path):
    """A store made at revision 0001 (no race column) with a run kept before "drift" existed:
    it opens at the newest revision and the run reads with race None and drift None."""
    from alembic import command
    from alembic.config import Config

    from peft_edu.store.engine import MIGRATIONS, _normalise

    engine = create_engine(_normalise(store_url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        now = datetime.now(timezone.utc)
        conn.execute(text("INSERT INTO learners (id, code_hash, name, created_at, last_seen) "
                          "VALUES ('old1', 'h', 'Old', :t, :t)"), {"t": now})
        conn.execute(text(
            "INSERT INTO runs (id, learner_id, label, method, data_name, status, message, config, curves, result, "
            "label_names, created_at) VALUES ('r1', 'old1', 'LoRA', 'lora', 'd', 'done', '', :config, '[]', "
            ":result, '[]', :t)"),
            {"t": now, "config": '{"method": "lora"}',
             "result": '{"test_accuracy": 0.9, "trainable": 5, "total": 50, "seconds": 2.0}'})
    engine.dispose()
    store = open_store(store_url, tmp_path / "data")
    (run,) = runs.runs_of(store, "old1")
    assert run.race is None
    view = saved_view(run)
    assert view.result.drift is None and view.result.test_accuracy == 0.9
    assert pareto.finished_races([run]) == {}
    store.close()


# ---------------------------------------------------------------- points and front
def test_points_and_front_of_a_race():
    mb = {"weights": 1_000_000, "gradients": 0, "optimizer": 0, "activations": 1_000_000}
    results = {
        "a": TrainResult("done", "", None, test_accuracy=0.6, trainable=100, seconds=5.0, memory=mb, drift=0.0),
        "b": TrainResult("done", "", None, test_accuracy=0.9, trainable=1_000, seconds=4.0, memory=mb, drift=0.1),
        "c": TrainResult("done", "", None, test_accuracy=0.8, trainable=10_000, seconds=9.0, memory={}, drift=None),
    }
    assert pareto.points(results, "memory") == {"a": (2.0, 0.6), "b": (2.0, 0.9)}  # MB; c's memory not measured
    assert pareto.front(pareto.points(results, "trainable")) == ["a", "b"]  # c costs more and is less accurate
    assert pareto.front(pareto.points(results, "time")) == ["b"]  # b is both quicker and more accurate than a
    assert pareto.front(pareto.points(results, "forgetting")) == ["a", "b"]  # c: no drift measured, not drawn
    assert set(pareto.AXES) == set(pareto.COST_NAMES) == {"trainable", "memory", "time", "forgetting"}
