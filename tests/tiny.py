"""Tiny models and data for the tests: one factory per architecture, plain functions.

Every factory seeds torch before it builds, so two calls give the same weights. The sizes
below are the ones the tests' closed forms are written for; a test that depends on a
size writes it out again as a literal (d = 32, 2 layers, ...), so a change here fails loudly.

- ``tiny_bert`` / ``tiny_gpt2``: d 32, 2 layers, 4 heads, vocab 100, 3 labels (the method tests)
- ``tiny_llama`` / ``tiny_mistral``: d 32, 4 query and 2 key/value heads, d_ff 48, vocab 50
- ``lab_bert`` + ``WordTokenizer`` + ``tiny_task``: the lab's loop on a 12-word language
"""
from __future__ import annotations

import random

import torch
from transformers import (BertConfig, BertForSequenceClassification, GPT2Config,
                          GPT2ForSequenceClassification, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForSequenceClassification)

from peft_edu.lab.data import Dataset

VOCAB = 100  # tiny_bert / tiny_gpt2


# ---------------------------------------------------------------- BERT, GPT-2
def tiny_bert(cls=BertForSequenceClassification, seed: int = 0):
    """BERT: d 32, 2 layers, 4 heads (8 dims each), d_ff 64, vocab 100, 3 labels, 512 positions."""
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, num_labels=3)
    return cls(cfg).eval()


def tiny_gpt2(cls=GPT2ForSequenceClassification, seed: int = 0):
    """GPT-2 (Conv1D layers): d 32, 2 layers, 4 heads, d_ff 4·d = 128, vocab 100, 3 labels."""
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, num_labels=3, pad_token_id=0,
                     bos_token_id=1, eos_token_id=1)
    return cls(cfg).eval()


def batch(vocab: int = VOCAB, pad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (2, 7) and their attention mask; with pad=True the second sequence ends in two pads."""
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(2, vocab, (2, 7), generator=gen)
    mask = torch.ones_like(ids)
    if pad:
        mask[1, 5:] = 0
    return ids, mask


def randomize_adapters(model: torch.nn.Module, seed: int = 5) -> None:
    """Give every adapter tensor (A, B, VeRA's b and d, DoRA's m) a non-trivial value: B = 0 at
    init would hide bugs in merge and in gradients."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith((".A", ".B", ".b", ".d", ".m")):
                p.add_(0.3 * torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------- Llama, Mistral
def _llama_sizes() -> dict:
    """Grouped-query attention: 2 key/value heads for 4 query heads, so k_proj and v_proj
    map 32 -> 16 while q_proj maps 32 -> 32."""
    return dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
                intermediate_size=48, vocab_size=50)


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**_llama_sizes())).eval()


def tiny_mistral(seed: int = 0) -> MistralForSequenceClassification:
    """Mistral with a 3-label sequence-classification head (``score``, 32 x 3, no bias)."""
    torch.manual_seed(seed)
    config = MistralConfig(**_llama_sizes(), num_labels=3, pad_token_id=0)
    return MistralForSequenceClassification(config).eval()


# ---------------------------------------------------------------- the lab: a 12-word language
WORDS = ("good", "bad", "the", "film", "was", "very", "quite", "plot", "acting", "music", "and", "a")


class WordTokenizer:
    """Splits on spaces; id = position in WORDS + 2 (0 = pad, 1 = [CLS]); same call shape as HF's."""

    def __call__(self, texts, padding=True, truncation=True, max_length=16, return_tensors="pt"):
        rows = [[1] + [WORDS.index(w) + 2 for w in t.split()][: max_length - 1] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def lab_bert(num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    """BERT over WordTokenizer's 14 ids: d 32, 2 layers, 4 heads, d_ff 64, 32 positions."""
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


# A learner's upload for the lab page: 24 rows, two labels (fast to score)
TINY_CSV = ("text,label\n" + "\n".join([f"City won {i}-0 at home,win" for i in range(12)]
                                        + [f"City lost 0-{i} away,loss" for i in range(12)])).encode()


def family_logits(model, family: str):
    """Logits of ``model`` on the shared batch (padded except for GPT-2), without gradients."""
    import torch

    ids, mask = batch(pad=family != "gpt2")
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with peft's fan_in_fan_out / modules_to_save notices silenced."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def one_torch_thread():
    """A generator for a pytest fixture: torch on one thread meanwhile (tiny models train fastest
    so, and the test machine's cores are shared), the old count restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def drain_jobs(timeout: float = 30, forget: bool = True) -> None:
    """Stop every lab job of the process and wait for it (and forget it): a test's clean-up."""
    from peft_edu.lab import jobs

    for job in jobs.active_jobs():
        job.stop()
    for job in list(jobs._JOBS.values()):
        job.wait(timeout)
        if forget:
            jobs.forget(job)
