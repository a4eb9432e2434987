"""How far fine-tuning moved the encoder: the lab's stand-in for "forgetting".

Hugging Face peft's method comparison reports forgetting as the change of a language model's
masked-LM loss on held-out general text, before and after fine-tuning. all-MiniLM-L6-v2 has no
masked-LM head (sentence-transformers trained it for sentence embeddings), so the lab measures
what the model is *for*: its sentence embeddings — the last hidden states mean-pooled over the
real tokens, as sentence-transformers uses the model — of general text that is not the task's,
from the base model and from the fine-tuned one. The drift is

    drift = 1 − mean_i cos(u_i, v_i) = mean_i ½ ‖û_i − v̂_i‖²      (û = u / ‖u‖)

for the base embedding u_i and the tuned one v_i of text i: 0 when the encoder is unchanged,
1 when the embeddings became orthogonal, 2 at most. The right-hand form is the same number for
unit vectors and is exactly 0 for identical embeddings (a cosine of a vector with itself can
round to 0.99999994). The general text is a fixed spread of the Semantic search page's shipped
help-desk passages (``general_texts``): English about software faults, nothing about football.
Sixteen are enough to rank methods (a prefix-tuned MiniLM: 0.210 on 16, 0.213 on 48) and keep
the measure cheap; it runs after a run's timed part.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from peft_edu.embeddings.data import load_builtin
from peft_edu.embeddings.model import mean_pool  # the Semantic search page's pooling: padding never counts
from peft_edu.lab.data import Dataset, Encoded, encode_cached

N_GENERAL = 16  # texts measured: two MiniLM passes over 16 short texts, 0.28 s on 2 loaded CPU cores
STRIDE = 73  # every 73rd of the 1,200 passages (a prime: 16 products, 10 faults, every setting)


@functools.lru_cache(maxsize=1)
def general_texts() -> tuple[str, ...]:
    """The held-out general text: ``N_GENERAL`` shipped help-desk passages, spread over the corpus."""
    return load_builtin().corpus[::STRIDE][:N_GENERAL]


def drift(base: torch.Tensor, tuned: torch.Tensor) -> float:
    """1 − mean cosine of matching rows of ``base`` and ``tuned`` (N, d), as ½‖û − v̂‖² averaged."""
    u = nn.functional.normalize(base.double(), dim=-1)  # (N, d)
    v = nn.functional.normalize(tuned.double(), dim=-1)
    return float(0.5 * (u - v).pow(2).sum(dim=-1).mean())


@torch.no_grad()
def sentence_embeddings(model: nn.Module, enc: Encoded, batch_size: int = 64) -> torch.Tensor:
    """(N, d) mean-pooled last hidden states of ``model`` (a sequence classifier) for every text.

    The whole model is called, so a method's own forward applies (prompt tuning prepends its
    virtual tokens there); only the last T positions are the texts' own tokens and are pooled."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(enc), batch_size):
        batch = enc.batch(torch.arange(start, min(start + batch_size, len(enc))))
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        out.append(mean_pool(hidden[:, -ids.shape[1]:].float(), mask).cpu())  # (b, d)
    model.train(was_training)
    return torch.cat(out)


def encoder_drift(base: nn.Module, tuned: nn.Module, tokenizer, texts: tuple[str, ...],
                  max_length: int = 64) -> float:
    """Drift of ``tuned``'s sentence embeddings of ``texts`` from ``base``'s (see the module docstring).

    Both are measured here, in the same thread, so an unchanged encoder gives exactly 0."""
    enc = encode_cached(tokenizer, Dataset(tuple(texts), (0,) * len(texts), ()), max_length)
    return drift(sentence_embeddings(base, enc), sentence_embeddings(tuned, enc))
