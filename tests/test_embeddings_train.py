"""The embedding fine-tune loop: any method through the protocol, callbacks, stop, the jobs queue.

Runs on a small slice of the shipped set (60 passages) so each run takes a second or two;
the full-size claim (LoRA: +10 points recall@10 in 60 s) is benchmarks/embedding_search.py.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from peft_edu import METHODS
from peft_edu.embeddings.data import RetrievalSet, load_builtin
from peft_edu.embeddings.model import load_encoder
from peft_edu.embeddings.train import DIMS, EmbedConfig, defaults, runnable, train
from peft_edu.lab import jobs


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


@pytest.fixture(scope="module")
def small() -> RetrievalSet:
    """60 passages: the first 24 training questions' and 12 held-out ones', plus 24 others."""
    full = load_builtin()
    asked = list(dict.fromkeys(full.train_relevant[:24] + full.test_relevant[:12]))
    others = [i for i in range(len(full.corpus)) if i not in set(asked)][:60 - len(asked)]
    keep = asked + others
    new = {old: i for i, old in enumerate(keep)}
    return RetrievalSet(tuple(full.corpus[i] for i in keep), full.train_queries[:24],
                        tuple(new[i] for i in full.train_relevant[:24]), full.test_queries[:12],
                        tuple(new[i] for i in full.test_relevant[:12]))


def run(encoder, small, method: str, **overrides):
    base, tokenizer = encoder
    cfg = defaults(method, steps=3, batch_size=8, probe_every=2, **overrides)
    seen = []
    result = train(cfg, base, tokenizer, small, on_metrics=seen.append)
    return cfg, result, seen


@pytest.mark.parametrize("method", ["lora", "full", "ia3", "lora_plus"])  # lora_plus: its own param_groups
def test_each_method_trains_and_reports(encoder, small, method):
    base, _ = encoder
    before = {k: v.clone() for k, v in base.state_dict().items()}
    cfg, result, seen = run(encoder, small, method)
    assert result.status == "done", result.message
    assert [m.step for m in seen] == [1, 2, 3] and all(m.steps == 3 and m.eta_s >= 0 for m in seen)
    assert [m.step for m in seen if m.probe] == [2, 3]
    assert set(result.before) == set(result.after) == {"recall@1", "recall@5", "recall@10", "MRR@10", "nDCG@10"}
    assert set(result.by_dims) == set(DIMS)
    assert 0 < result.trainable <= result.total
    assert result.corpus_after.shape == (60, 384)
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())  # the shared base never trains


def test_the_tuned_embeddings_move_and_the_probe_sees_it(encoder, small):
    _, result, seen = run(encoder, small, "lora", lr=5e-3)
    assert not torch.allclose(result.corpus_before, result.corpus_after, atol=1e-4)
    probe = seen[-1].probe
    assert len(probe.positive) == 12 and len(probe.negative) == 12 * 11
    assert result.base_probe.query_xy != probe.query_xy


def test_methods_offered_are_the_layer_methods():
    offered = [k for k in METHODS if runnable(k)]
    assert len(offered) >= 4 and {"lora", "full"} <= set(offered)


def test_stop_and_bad_configs(encoder, small):
    base, tokenizer = encoder
    result = train(defaults("lora", steps=5, batch_size=8), base, tokenizer, small, should_stop=lambda: True)
    assert result.status == "stopped" and "0 of 5" in result.message and result.after
    with pytest.raises(ValueError, match="batch_size"):
        defaults("lora", batch_size=4, copies=4).check()
    with pytest.raises(ValueError, match="unknown method"):
        EmbedConfig(method="nope").check()


def test_runs_in_the_labs_queue(encoder, small):
    base, tokenizer = encoder
    cfg = defaults("lora", steps=2, batch_size=8)
    job = jobs.submit_task(lambda on_metrics, should_stop, on_start: train(
        cfg, base, tokenizer, small, on_metrics=on_metrics, should_stop=should_stop, on_start=on_start),
        cfg, owner="test-embeddings", label_text="LoRA search")
    assert job.wait(120)
    view = job.view()
    assert view.status == "done" and view.progress == 1.0 and len(view.metrics) == 2
    assert view.result.after and view.trainable > 0
    jobs.forget(job)


def test_copies_trap_runs(encoder, small):
    cfg, result, _ = run(encoder, small, "lora", copies=4)
    assert cfg.copies == 4 and result.status == "done"
    assert dataclasses.replace(cfg, copies=1) != cfg
