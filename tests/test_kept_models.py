"""A finished lab run's model shares the base's unchanged tensors (peft_edu.lab.train.share_unchanged).

The lab holds several finished runs' models for Try it; a full copy of all-MiniLM-L6-v2 is
~90 MB each. After a run, the copy's frozen tensors that still equal the base's point at the
base's storage. These tests check what that must never change (every prediction, the base) and
what it saves, against the run's own parameter count: a LoRA model's own memory is exactly its
trainable parameters at 4 bytes each.
"""
import copy
import dataclasses

import pytest
import torch

from peft_edu.lab import train as lab_train
from peft_edu.lab.metrics import predict_proba
from peft_edu.lab.run_config import HEAD_ONLY, METHOD_CHOICES, defaults
from peft_edu.methods import protocol
from tests.tiny import WordTokenizer, lab_bert, one_torch_thread, tiny_task

TOK = WordTokenizer()
TRAIN, TEST = tiny_task(64, seed=0), tiny_task(24, seed=1)
SMALL = {"r": 4, "n_tokens": 2, "bottleneck": 4, "start_step": 1}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from one_torch_thread()


def run(method: str, base, steps: int = 4, **overrides):
    fields = () if method == HEAD_ONLY else [f.name for f in dataclasses.fields(protocol(method).Config)]
    options = {k: v for k, v in SMALL.items() if k in fields} | overrides
    cfg = defaults(method, steps=steps, batch_size=8, eval_every=2, max_length=16, lr=1e-2, head_lr=1e-2,
                   seed=3, **options)
    return lab_train.train(cfg, base, TOK, TRAIN, TEST, device="cpu")


def storages(module) -> dict[int, torch.Tensor]:
    """data pointer -> tensor, for every parameter and buffer (each storage once)."""
    return {t.data_ptr(): t for t in (*module.parameters(), *module.buffers())}


def own_bytes(model, base) -> int:
    """Bytes of the model's tensors that are not the base's storage."""
    theirs = storages(base)
    return sum(t.numel() * t.element_size() for ptr, t in storages(model).items() if ptr not in theirs)


@pytest.mark.parametrize("method", METHOD_CHOICES)
def test_sharing_changes_no_prediction_and_never_the_base(method, monkeypatch):
    texts = [TEST.texts[i] for i in range(12)]
    base = lab_bert()
    before = copy.deepcopy(base.state_dict())
    shared = run(method, base)
    monkeypatch.setattr(lab_train, "share_unchanged", lambda pairs: None)
    whole = run(method, lab_bert())  # the same run (same seed, one thread), its copy kept whole
    assert shared.status == whole.status == "done"
    torch.testing.assert_close(predict_proba(shared.model, TOK, texts, 16), predict_proba(whole.model, TOK, texts, 16),
                               rtol=0, atol=1e-6)
    for name, tensor in base.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    kept, whole_kept = own_bytes(shared.model, base), own_bytes(whole.model, lab_bert())
    if method == "full":  # every weight of a full fine-tune trains: only buffers to share
        assert kept < whole_kept and kept >= 4 * shared.trainable
    elif method == "qlora":  # its frozen linear weights are its own NF4 codes: embeddings, norms shared
        assert kept < whole_kept
    else:
        assert kept < whole_kept / 2


def test_a_kept_lora_model_holds_exactly_its_trainable_parameters():
    base = lab_bert()
    result = run("lora", base)
    assert result.trainable < result.total / 10
    assert own_bytes(result.model, base) == 4 * result.trainable  # fp32; A, B and the task head
    base_ptrs = storages(base)
    for name, p in result.model.named_parameters():
        assert (p.data_ptr() in base_ptrs) != p.requires_grad, name  # frozen: the base's; trained: its own


@pytest.mark.parametrize("method", ["delta_lora", "pissa"])
def test_a_frozen_weight_the_run_moved_keeps_its_own_values(method):
    """Delta-LoRA adds the change of B A to W after every step; PiSSA replaces W by its residual:
    the frozen W differs from the base's and must not be shared."""
    base = lab_bert()
    result = run(method, base)
    base_ptrs = storages(base)
    base_weights = {n: p for n, p in base.named_parameters()}
    moved = [(n, p) for n, p in result.model.named_parameters()
             if not p.requires_grad and p.dim() == 2 and p.data_ptr() not in base_ptrs]
    assert moved, "the moved weights were shared with the base"
    for name, p in moved:
        original = next((t for n, t in base_weights.items() if t.shape == p.shape and n.split(".")[-2:] ==
                         name.replace(".base_layer", "").replace(".base", "").split(".")[-2:]), None)
        if original is not None:
            assert not torch.equal(p, original), name
