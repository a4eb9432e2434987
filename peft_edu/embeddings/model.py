"""all-MiniLM-L6-v2 as a sentence encoder, the way sentence-transformers runs it.

sentence-transformers' all-MiniLM-L6-v2 is a BERT encoder (``BertModel``, no task head)
followed by mean pooling over the real tokens and L2 normalisation (its ``modules.json``:
Transformer -> Pooling(mean) -> Normalize). ``embed`` does exactly that, so a cosine
similarity is a dot product of two embeddings.
"""
from __future__ import annotations

import torch
from torch import nn

from peft_edu.lab.data import TOKENIZER_LOCK

MAX_LENGTH = 64  # tokens per text: every shipped passage fits (the model itself allows 256)


def load_encoder():
    """(BertModel, tokenizer) of the bundled all-MiniLM-L6-v2, offline, eval mode on the CPU."""
    from transformers import AutoModel, AutoTokenizer

    from peft_edu.models import minilm_dir

    from transformers.utils import logging as hf_logging

    path = minilm_dir()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the checkpoint's unused BERT pooler is expected: sentence-transformers skips it too
    try:
        model = AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model.eval(), tokenizer


def tokenize(tokenizer, texts, max_length: int = MAX_LENGTH) -> dict[str, torch.Tensor]:
    """Padded ids and attention mask for ``texts`` (fast tokenizers are not thread-safe: lock)."""
    with TOKENIZER_LOCK:
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where ``mask`` is 1: (B, T, d), (B, T) -> (B, d).

    Padding must not count, or a short text's embedding would drift towards the pad vector."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def encode_batch(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Unit-length embeddings (B, d) of one tokenised batch, with gradients if enabled."""
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), p=2, dim=-1)


@torch.no_grad()
def embed(model: nn.Module, tokenizer, texts, batch_size: int = 64, max_length: int = MAX_LENGTH,
          device: torch.device | str | None = None) -> torch.Tensor:
    """Unit-length embeddings (N, d) of ``texts``, in eval mode (no dropout), returned on the CPU.

    Texts are embedded shortest first (fewer pad tokens per batch: on a 2-core CPU the corpus
    takes about half the time) and returned in the given order. ``device``: where the model
    runs; default: where its weights are."""
    device = device if device is not None else next(model.parameters()).device
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, len(texts), batch_size):
        part = [texts[i] for i in order[start:start + batch_size]]
        batch = {k: v.to(device) for k, v in tokenize(tokenizer, part, max_length).items()}
        chunks.append(encode_batch(model, batch).float().cpu())
    model.train(was_training)
    if not chunks:
        return torch.zeros(0, model.config.hidden_size)
    out = torch.empty(len(texts), chunks[0].shape[1])
    out[torch.tensor(order)] = torch.cat(chunks)  # back to the caller's order
    return out
