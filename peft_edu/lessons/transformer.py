"""Lessons on a tiny transformer: the methods that live inside attention blocks.

Prompt tuning, prefix tuning, adapters and (IA)³ need a transformer, so these runs use a
BERT of width 16 with 2 blocks (every tensor small enough to draw). It is first trained
on task A ("more tokens from group 1 than from group 2?"), standing in for pre-training,
and then adapted to task B, which regroups four of the tokens — the pretrained features
help, but do not solve B. The classifier head trains in every run, as Hugging Face
``peft`` does for sequence classification (``modules_to_save``).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch
from torch import nn

import peft_edu
from peft_edu.lessons.core import Run, TensorView, one_thread
from peft_edu.lessons.train import adam, fit
from peft_edu.methods import protocol

VOCAB, SEQ = 32, 8  # token ids 2..31 are words; 1 is [CLS], 0 is padding
TASK_A = ((2, 3, 4, 5, 6, 7, 8, 9), (10, 11, 12, 13, 14, 15, 16, 17))  # "pre-training" groups
TASK_B = ((2, 3, 4, 5, 6, 7, 10, 11), (8, 9, 12, 13, 14, 15, 16, 17))  # the new task: 4 tokens regrouped
PRETRAIN_STEPS = 80  # enough for task A to be learned (loss < 0.01)
STEPS = 40  # adaptation steps of every lesson run
LR = 0.03  # Adam learning rate of the adaptation runs


@dataclass(frozen=True)
class TinyBert:
    """Sizes of the tiny BERT (a real ``transformers`` BertForSequenceClassification)."""

    d_model: int = 16  # hidden width d
    n_layers: int = 2  # transformer blocks L
    n_heads: int = 2  # attention heads
    d_ff: int = 32  # feed-forward width

    def config(self):
        from transformers import BertConfig

        return BertConfig(vocab_size=VOCAB, hidden_size=self.d_model, num_hidden_layers=self.n_layers,
                          num_attention_heads=self.n_heads, intermediate_size=self.d_ff,
                          max_position_embeddings=4 * SEQ, num_labels=2, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)


def task_batch(groups, n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] + SEQ random words; label 1 when group 0 has more tokens than group 1."""
    gen = torch.Generator().manual_seed(seed)
    words = torch.randint(2, VOCAB, (n, SEQ), generator=gen)  # (n, SEQ)
    a = torch.isin(words, torch.tensor(groups[0])).sum(1)
    b = torch.isin(words, torch.tensor(groups[1])).sum(1)
    ids = torch.cat([torch.ones(n, 1, dtype=torch.long), words], dim=1)  # (n, 1 + SEQ)
    return ids, (a > b).long()


def ce_on(ids: torch.Tensor, labels: torch.Tensor):
    def loss_fn(model: nn.Module) -> torch.Tensor:
        return model(input_ids=ids, labels=labels).loss

    return loss_fn


@lru_cache(maxsize=2)
def _pretrained(sizes: TinyBert) -> nn.Module:
    """The tiny BERT trained on task A in full (cached: never train it in place)."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(sizes.config())
    with torch.enable_grad():  # it trains, even when the first caller sits inside torch.no_grad()
        fit(Run("full", ()), model, ce_on(*task_batch(TASK_A, 256, seed=0)), PRETRAIN_STEPS, adam(model, 0.01))
    return model.eval()


def pretrained(sizes: TinyBert = TinyBert()) -> nn.Module:
    """A fresh copy of the pretrained tiny BERT."""
    with one_thread():
        return copy.deepcopy(_pretrained(sizes))


def _head_view(model: nn.Module) -> tuple[TensorView, Callable[[], torch.Tensor]]:
    return TensorView("head", "classifier head (trains in every run, not the method)", "trainable", "classes", "d"), \
        lambda: model.classifier.weight


def transformer_methods() -> tuple[str, ...]:
    """Methods whose page run adapts the tiny BERT (their module's ``LESSON.model``)."""
    return tuple(k for k in peft_edu.METHODS if protocol(k).lesson.model == "transformer")


def lesson_model(method: str, size: int | None = None) -> nn.Module:
    """The pretrained tiny BERT with ``method`` applied: its ``LESSON`` config, the size knob
    set to ``size`` when given. The head trains, as peft does for sequence classification."""
    options = dataclasses.asdict(protocol(method).lesson.config)
    knob = peft_edu.METHODS[method].size_knob
    if knob and size is not None:
        options[knob] = size
    base = pretrained()  # the first call pre-trains it, drawing from the global generator
    torch.manual_seed(0)  # so the method's random init is the same whatever ran before
    return peft_edu.apply(base, method, train_head=True, **options)


def transformer_run(method: str, size: int | None = None, steps: int = STEPS, lr: float = LR,
                    n_frames: int = 21) -> Run:
    """Adapt the pretrained tiny BERT to task B with ``method``; record its tensors."""
    if method not in transformer_methods():
        raise ValueError(f"no transformer lesson for {method!r}; choose one of: {', '.join(transformer_methods())}")
    model = lesson_model(method, size)
    watched = protocol(method).watch(model)
    head, read_head = _head_view(model)
    views = (*(TensorView(w.name, w.title, w.role, w.rows, w.cols) for w in watched), head)

    def record() -> dict[str, torch.Tensor]:
        return {**{w.name: w.read() for w in watched}, "head": read_head()}

    run = Run(method, views, loss_label="loss (cross-entropy)",
              caption=f"Toy task: a {TinyBert().n_layers}-block BERT of width {TinyBert().d_model}, "
                      f"trained on task A, adapts to task B (128 sequences of {SEQ} tokens, Adam, lr {LR}).")
    loss_fn = ce_on(*task_batch(TASK_B, seed=1))
    with one_thread():
        fit(run, model, loss_fn, steps, adam(model, lr), record, n_frames)
        run.reference_loss, run.reference_label = head_only_loss(loss_fn, steps, lr), "head alone"
    run.caption += (f" The classifier head trains too, as peft does; the dashed curve is the head alone "
                    f"(the method's tensors left out): it ends at {run.reference_loss[-1]:.3f}, the method at "
                    f"{run.loss[-1]:.3f} — the gap is what the method's own tensors add.")
    return run


@lru_cache(maxsize=4)
def _head_only_loss(steps: int, lr: float) -> tuple[float, ...]:
    model = pretrained()
    model.requires_grad_(False)
    model.classifier.requires_grad_(True)
    run = Run("head_only", (), loss_label="loss (cross-entropy)")
    return tuple(fit(run, model, ce_on(*task_batch(TASK_B, seed=1)), steps, adam(model, lr)).loss)


def head_only_loss(loss_fn, steps: int = STEPS, lr: float = LR) -> list[float]:
    """The loss of the same adaptation with only the classifier head training (everything else
    frozen, no method): what the head alone can do on task B, the page's reference curve."""
    return list(_head_only_loss(steps, lr))
