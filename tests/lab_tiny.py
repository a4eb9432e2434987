"""A tiny BERT, a word-level tokenizer and a toy task for fast tests of the lab's loop and jobs."""
from __future__ import annotations

import random

import torch
from transformers import BertConfig, BertForSequenceClassification

from peft_edu.lab.data import Dataset

WORDS = ("good", "bad", "the", "film", "was", "very", "quite", "plot", "acting", "music", "and", "a")


class WordTokenizer:
    """Splits on spaces; id = position in WORDS + 2 (0 = pad, 1 = [CLS]); same call shape as HF's."""

    def __call__(self, texts, padding=True, truncation=True, max_length=16, return_tensors="pt"):
        rows = [[1] + [WORDS.index(w) + 2 for w in t.split()][: max_length - 1] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def tiny_bert(num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(WORDS) + 2, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, num_labels=num_labels, max_position_embeddings=32)
    return BertForSequenceClassification(cfg).eval()


def tiny_task(n: int = 96, seed: int = 0) -> Dataset:
    """Sentences with "good" (label 1) or "bad" (label 0) among filler words."""
    rng = random.Random(seed)
    filler = WORDS[2:]
    texts, labels = [], []
    for i in range(n):
        words = [rng.choice(filler) for _ in range(rng.randint(3, 7))]
        words.insert(rng.randrange(len(words) + 1), "good" if i % 2 else "bad")
        texts.append(" ".join(words))
        labels.append(i % 2)
    return Dataset(tuple(texts), tuple(labels), ("neg", "pos"))
