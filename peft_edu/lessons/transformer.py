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
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

import peft_edu
from peft_edu.lessons.core import Run, TensorView, one_thread
from peft_edu.lessons.train import adam, fit

VOCAB, SEQ = 32, 8  # token ids 2..31 are words; 1 is [CLS], 0 is padding
TASK_A = ((2, 3, 4, 5, 6, 7, 8, 9), (10, 11, 12, 13, 14, 15, 16, 17))  # "pre-training" groups
TASK_B = ((2, 3, 4, 5, 6, 7, 10, 11), (8, 9, 12, 13, 14, 15, 16, 17))  # the new task: 4 tokens regrouped
PRETRAIN_STEPS = 80  # enough for task A to be learned (loss < 0.01)
STEPS = 40  # adaptation steps of every lesson run
LR = 0.03  # Adam learning rate of the adaptation runs
DEFAULT_SIZE = {"prompt_tuning": 4, "prefix_tuning": 4, "adapter": 4}  # n_tokens or bottleneck
SIZE_ARG = {"prompt_tuning": "n_tokens", "prefix_tuning": "n_tokens", "adapter": "bottleneck"}


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


def _head() -> TensorView:
    return TensorView("head", "classifier (trains too)", "trainable", "classes", "d")


def _setup(method: str, model: nn.Module) -> tuple[tuple[TensorView, ...], callable]:
    """Which tensors of the applied model to draw, and how to read them."""
    head = lambda: {"head": model.classifier.weight}  # noqa: E731 - tiny reader, reads clearer inline
    if method == "prompt_tuning":
        emb = model.get_input_embeddings().weight
        views = (TensorView("E", "E (token embeddings)", "frozen", "vocab", "d"),
                 TensorView("P", "P (virtual tokens)", "trainable", "n", "d"), _head())
        return views, lambda: {"E": emb, "P": model.soft_prompt.P, **head()}
    if method == "prefix_tuning":
        views = tuple(TensorView(f"{kind}{layer}", f"P_{kind[1]} layer {layer}", "trainable", "n", "d")
                      for layer in range(model.config.num_hidden_layers) for kind in ("Pk", "Pv"))
        pf = model.prefix
        return views + (_head(),), lambda: {**{f"Pk{i}": pf.P_k[i] for i in range(len(pf.P_k))},
                                           **{f"Pv{i}": pf.P_v[i] for i in range(len(pf.P_v))}, **head()}
    if method == "adapter":
        return _adapter_setup(model, head)
    if method == "ia3":
        return _ia3_setup(model, head)
    raise ValueError(f"no transformer lesson for {method!r}; choose one of: {', '.join(TRANSFORMER_METHODS)}")


def _adapter_setup(model: nn.Module, head):
    """The two adapters of block 0: after attention and after the feed-forward layer."""
    block = model.bert.encoder.layer[0]
    att, ffn = block.attention.output.dense.adapter, block.output.dense.adapter
    views = (TensorView("Wd_att", "W_down (after attention)", "trainable", "m", "d"),
             TensorView("Wu_att", "W_up (after attention)", "trainable", "d", "m"),
             TensorView("Wd_ffn", "W_down (after FFN)", "trainable", "m", "d"),
             TensorView("Wu_ffn", "W_up (after FFN)", "trainable", "d", "m"), _head())
    return views, lambda: {"Wd_att": att.W_down, "Wu_att": att.W_up, "Wd_ffn": ffn.W_down,
                           "Wu_ffn": ffn.W_up, **head()}


def _ia3_setup(model: nn.Module, head):
    """l_k, l_v and l_ff of every block (vectors, drawn as columns)."""
    views, readers = [], {}
    for i, block in enumerate(model.bert.encoder.layer):
        for name, module, rows in (("l_k", block.attention.self.key, "d"), ("l_v", block.attention.self.value, "d"),
                                   ("l_ff", block.output.dense, "d_ff")):
            views.append(TensorView(f"{name}{i}", f"{name} block {i}", "trainable", rows, "1"))
            readers[f"{name}{i}"] = module.l
    return tuple(views) + (_head(),), lambda: {**readers, **head()}


TRANSFORMER_METHODS = ("prompt_tuning", "prefix_tuning", "adapter", "ia3")


def transformer_run(method: str, size: int | None = None, steps: int = STEPS, lr: float = LR,
                    n_frames: int = 21) -> Run:
    """Adapt the pretrained tiny BERT to task B with ``method``; record its tensors."""
    if method not in TRANSFORMER_METHODS:
        raise ValueError(f"no transformer lesson for {method!r}; choose one of: {', '.join(TRANSFORMER_METHODS)}")
    config = {SIZE_ARG[method]: size or DEFAULT_SIZE[method]} if method in SIZE_ARG else {}
    model = peft_edu.apply(pretrained(), method, train_head=True, **config)
    views, record = _setup(method, model)
    run = Run(method, views, loss_label="loss (cross-entropy)",
              caption=f"Toy task: a {TinyBert().n_layers}-block BERT of width {TinyBert().d_model}, "
                      f"trained on task A, adapts to task B (128 sequences of {SEQ} tokens, Adam, lr {LR}).")
    with one_thread():
        return fit(run, model, ce_on(*task_batch(TASK_B, seed=1)), steps, adam(model, lr), record, n_frames)
