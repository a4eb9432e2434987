"""The lab's training loop (peft_edu.lab.train) on a tiny BERT: it learns, it stops, it tells why."""
import copy
import dataclasses

import pytest
import torch

from peft_edu.lab.data import encode_cached
from peft_edu.lab.run_config import HEAD_ONLY, METHOD_CHOICES, RunConfig, apply_options, defaults
from peft_edu.methods import protocol
from peft_edu.lab.train import confusion_matrix, predict, prepare_model, train
from tests.tiny import WordTokenizer, lab_bert, one_torch_thread, tiny_task

TOK = WordTokenizer()
TRAIN, TEST = tiny_task(96, seed=0), tiny_task(32, seed=1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread (and the test machine's cores are shared)."""
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def lora_result(one_thread):
    return run("lora", lr=1e-2, head_lr=1e-2, steps=60)


def run(method="lora", base=None, **overrides):
    cfg = defaults(method, steps=overrides.pop("steps", 40), batch_size=8, eval_every=20,
                   max_length=16, **overrides)
    return train(cfg, base if base is not None else lab_bert(), TOK, TRAIN, TEST, device="cpu")


def test_loss_falls_and_accuracy_rises_with_lora(lora_result):
    result = lora_result
    assert result.status == "done" and result.message == ""
    losses = [m.loss for m in result.metrics]
    assert len(losses) == 60
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    assert result.test_accuracy >= 0.9
    assert [m.step for m in result.metrics if m.test_acc is not None] == [20, 40, 60]
    assert result.metrics[-1].eta_s == 0.0 and result.metrics[0].eta_s > 0


def test_base_model_is_never_mutated():
    base = lab_bert()
    before = copy.deepcopy(base.state_dict())
    result = run("full", base=base, lr=1e-2, steps=5)
    assert result.status == "done"
    assert not hasattr(base, "peft_edu_applied")
    for name, tensor in base.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert any(not torch.equal(p, before[n]) for n, p in result.model.state_dict().items() if n in before)


@pytest.mark.parametrize("method", METHOD_CHOICES)
def test_every_method_trains_a_few_steps(method):
    small = {"r": 4 if method == "vera" else 8, "n_tokens": 2, "bottleneck": 4, "start_step": 1}
    fields = () if method == HEAD_ONLY else [f.name for f in dataclasses.fields(protocol(method).Config)]
    result = run(method, steps=3, **{k: v for k, v in small.items() if k in fields})
    assert result.status == "done", result.message
    assert len(result.metrics) == 3 and all(m.loss > 0 for m in result.metrics)
    assert 0 < result.trainable < result.total or method == "full"


def test_head_only_trains_just_the_head():
    model = prepare_model(lab_bert(), defaults(HEAD_ONLY))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}


def test_lora_plus_gives_B_a_larger_learning_rate():
    from peft_edu.lab.train import make_optimizer

    cfg = defaults("lora_plus", lr=1e-3, ratio=8.0, head_lr=5e-4)
    model = prepare_model(lab_bert(), cfg)
    lrs = {id(p): g["lr"] for g in make_optimizer(model, cfg).param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        if p.requires_grad:
            expected = 5e-4 if name.startswith("classifier") else 8e-3 if name.endswith(".B") else 1e-3
            assert lrs[id(p)] == expected, name
    assert len(lrs) == sum(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("method", ["head_only", "prompt_tuning", "full"])
def test_head_has_its_own_learning_rate(method):
    from peft_edu.lab.train import make_optimizer

    cfg = defaults(method, lr=3e-2, head_lr=1e-3)
    model = prepare_model(lab_bert(), cfg)
    lrs = {id(p): g["lr"] for g in make_optimizer(model, cfg).param_groups for p in g["params"]}
    head_lr = 3e-2 if method == "head_only" else 1e-3  # head only: the head is the method
    assert {lrs[id(p)] for p in model.classifier.parameters()} == {head_lr}
    assert {lrs[id(p)] for n, p in model.named_parameters() if p.requires_grad
            and not n.startswith("classifier")} <= {3e-2}


def test_nan_loss_stops_with_a_message_about_the_learning_rate():
    base = lab_bert()
    with torch.no_grad():
        base.classifier.bias.fill_(float("nan"))
    result = run("lora", base=base, lr=0.5)
    assert result.status == "diverged"
    assert result.metrics == []
    assert "NaN" in result.message and "lower learning rate" in result.message and "0.5" in result.message


def test_out_of_memory_stops_with_a_clear_message(monkeypatch):
    import peft_edu.lab.train as train_module

    def boom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_module, "make_optimizer", boom)
    result = run("lora")
    assert result.status == "oom"
    assert "ran out of memory" in result.message and "batch size" in result.message


def test_stop_request_ends_the_run_after_the_current_step():
    calls = []
    cfg = defaults("lora", steps=50, batch_size=8, max_length=16)
    result = train(cfg, lab_bert(), TOK, TRAIN, TEST, on_metrics=calls.append,
                   should_stop=lambda: len(calls) >= 3, device="cpu")
    assert result.status == "stopped" and len(result.metrics) == 3 == len(calls)
    assert "3 of 50" in result.message
    assert result.test_accuracy is not None  # a stopped run is still evaluated


def test_bad_config_is_refused_before_training():
    with pytest.raises(ValueError, match="lr must be > 0"):
        run("lora", lr=0.0)
    with pytest.raises(ValueError, match="unknown method 'lorra'"):
        RunConfig(method="lorra").check()


def test_knob_overrides_reach_the_applied_method():
    """A knob given to defaults() is what the run's model was built with, seeds included."""
    cfg = defaults("lora_plus", ratio=4.0, r=2, seed=7)
    assert apply_options(cfg) == {"r": 2, "alpha": 16.0, "dropout": 0.0, "use_rslora": False, "ratio": 4.0}
    model = prepare_model(lab_bert(), cfg)
    assert model.peft_edu_applied.config.ratio == 4.0
    assert {layer.r for layer in model.modules() if hasattr(layer, "r") and hasattr(layer, "B")} == {2}
    adapter = prepare_model(lab_bert(), defaults("adapter", bottleneck=7, seed=5))
    assert adapter.peft_edu_applied.config.bottleneck == 7 and adapter.peft_edu_applied.config.seed == 5
    with pytest.raises(TypeError):
        defaults("lora", n_tokens=5)  # prompt tuning's knob: LoRA has no such field


def test_lab_defaults_are_budgets_a_learner_can_wait_for():
    assert defaults("vera").config.r == 256  # VeRA needs a large shared rank (REFERENCE: peft default 256)
    assert defaults("vera").lr > defaults("lora").lr  # few numbers need large steps
    assert defaults("vera", steps=7).steps == 7
    for method in METHOD_CHOICES:
        cfg = defaults(method)
        cfg.check()
        assert cfg.steps <= 150 and cfg.batch_size == 16


def test_predict_and_confusion_matrix(lora_result):
    result = lora_result
    probs = predict(result.model, TOK, "the film was good", ("neg", "pos"), max_length=16)
    assert set(probs) == {"neg", "pos"} and abs(sum(probs.values()) - 1) < 1e-5
    assert probs["pos"] > 0.5
    enc = encode_cached(TOK, TEST, 16)
    m = confusion_matrix(result.model, enc, 2)
    assert sum(map(sum, m)) == len(TEST)
    assert (m[0][0] + m[1][1]) / len(TEST) == pytest.approx(result.test_accuracy)
    assert [sum(row) for row in m] == [TEST.labels.count(0), TEST.labels.count(1)]


def test_training_threads_share_cores_and_back_off_under_load(monkeypatch):
    import os

    from peft_edu.lab import train as train_module
    from peft_edu.lab.train import training_threads

    monkeypatch.delenv("PEFT_LAB_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert (training_threads(1), training_threads(2), training_threads(16)) == (8, 4, 1)
    monkeypatch.setattr(train_module, "runnable_now", lambda: 12)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))  # oversubscribed: one thread
    assert training_threads(1) == 1
    # the average still counts a run that has just ended, but nothing else runs now: all cores
    monkeypatch.setattr(train_module, "runnable_now", lambda: 0)
    assert training_threads(1) == 8
    monkeypatch.setattr(train_module, "runnable_now", lambda: None)  # no /proc: the average decides
    assert training_threads(1) == 1
    monkeypatch.setenv("PEFT_LAB_THREADS", "3")
    assert training_threads(1) == 3


def test_train_state_bytes_counts_weights_grads_and_adam_moments(lora_result):
    model = lora_result.model
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_weights = sum(p.numel() for p in model.parameters())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())  # int64 position ids
    n_trainable = sum(p.numel() for p in trainable)
    # float32: every weight once, then a gradient, exp_avg and exp_avg_sq per trainable
    # value, and AdamW's 0-d "step" tensor per trainable tensor
    expected = 4 * n_weights + buffer_bytes + 4 * 3 * n_trainable + 4 * len(trainable)
    assert lora_result.train_state_bytes == expected
    assert lora_result.trainable == n_trainable


def test_the_runs_own_memory_is_split_as_the_calculator_splits_it(lora_result):
    """weights (every parameter and buffer), gradients (4 bytes per trainable number), AdamW's
    state (8 per trainable number + a float32 step per tensor), and saved activations: at least the
    embeddings' output autograd must keep for the first layer's LoRA gradient (batch × tokens × d,
    float32), for the longest batch of the run; on a CPU the process growth is measured beside it."""
    m = lora_result.memory
    model = lora_result.model
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    assert m["weights"] == 4 * sum(p.numel() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers())
    assert m["gradients"] == 4 * n_trainable
    assert m["optimizer"] == 8 * n_trainable + 4 * len(trainable)
    d = model.config.hidden_size
    assert m["activations"] >= 8 * 2 * d * 4  # batch 8, at least 2 tokens, width d, float32
    assert m["rss_growth"] >= 0
    assert m["weights"] + m["gradients"] + m["optimizer"] == lora_result.train_state_bytes


def _train_mode_logits(model, seed: int) -> torch.Tensor:
    batch = encode_cached(TOK, TRAIN, 16).batch(torch.arange(8))
    torch.manual_seed(seed)
    return model.train()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def test_model_dropout_is_the_one_from_pretrained_builds_from_its_config():
    """``model_dropout`` reaches every dropout site Hugging Face's config has (hidden, attention,
    classifier): the copy draws the very masks of a BERT built with those config values, and at 0
    a training-mode forward is deterministic. A method's own dropout keeps its value."""
    from transformers import BertForSequenceClassification

    base = lab_bert()
    cfg = base.config.to_dict() | {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.3,
                                   "classifier_dropout": 0.3}
    reference = BertForSequenceClassification(type(base.config).from_dict(cfg))
    reference.load_state_dict(base.state_dict())
    ours = prepare_model(base, defaults("full", model_dropout=0.3))
    assert torch.equal(_train_mode_logits(ours, 5), _train_mode_logits(reference, 5))
    assert not torch.equal(_train_mode_logits(ours, 5), _train_mode_logits(ours, 6))  # dropout is on

    off = prepare_model(base, defaults("full"))
    assert defaults("full").model_dropout == 0.0
    assert torch.equal(_train_mode_logits(off, 5), _train_mode_logits(off, 6))
    assert torch.allclose(_train_mode_logits(off, 5), base.eval()(**{
        k: v for k, v in encode_cached(TOK, TRAIN, 16).batch(torch.arange(8)).items() if k != "labels"}).logits)

    lora = prepare_model(base, defaults("lora", model_dropout=0.0, dropout=0.25))
    own = {layer.dropout.p for layer in lora.modules() if hasattr(layer, "B") and hasattr(layer, "dropout")}
    assert own == {0.25}
    assert base.bert.encoder.layer[0].attention.self.dropout.p == 0.1  # the base is untouched


def test_model_dropout_out_of_range_is_refused():
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="model_dropout must be in"):
            defaults("lora", model_dropout=bad).check()


def test_a_run_kept_before_the_dropout_setting_reads_the_checkpoints_dropout():
    from peft_edu.lab.saved import config_doc, config_from

    doc = config_doc(defaults("lora", model_dropout=0.05))
    assert config_from(doc).model_dropout == 0.05
    del doc["model_dropout"]  # what a run kept by an older version holds
    assert config_from(doc).model_dropout == 0.1


def test_runnable_now_counts_busy_processes():
    """/proc/loadavg's instantaneous count sees processes that spin right now."""
    import subprocess
    import sys
    import time

    from peft_edu.lab.train import runnable_now

    if runnable_now() is None:
        pytest.skip("no /proc/loadavg here")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        time.sleep(0.3)
        assert max(runnable_now() for _ in range(20)) >= 2
    finally:
        for p in spinners:
            p.kill()
            p.wait()
