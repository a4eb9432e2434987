"""Prompt tuning and prefix tuning: where the virtual tokens enter, measured on a real model.

Prompt tuning (Lester et al., 2021, arXiv 2104.08691) puts n vectors in front of the
input embeddings: every layer then processes n + T positions. Prefix tuning (Li & Liang,
2021, arXiv 2101.00190) leaves the input alone and puts n keys and values in front of
every layer's attention: the T queries attend over n + T keys. The lengths below are read
from the attention maps of the tiny BERT (``output_attentions=True``), not assumed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import peft_edu
from peft_edu.lessons.core import one_thread
from peft_edu.lessons.transformer import SEQ, TASK_B, pretrained, task_batch

SOFT_PROMPT = ("prompt_tuning", "prefix_tuning")


@dataclass(frozen=True)
class TokenFlow:
    """Measured sequence lengths in every layer of the tiny BERT with a method applied."""

    method: str
    n_tokens: int  # n, virtual tokens
    real_tokens: int  # T, the input's tokens ([CLS] included)
    input_len: int  # positions after the embedding layer
    queries: list[int]  # per layer: query positions (rows of the attention map)
    keys: list[int]  # per layer: key/value positions (columns of the attention map)


def token_flow(method: str, n_tokens: int = 4) -> TokenFlow:
    """Run one batch through the tiny BERT with ``method`` and read every attention map's shape."""
    if method not in SOFT_PROMPT:
        raise ValueError(f"method must be one of {SOFT_PROMPT}, got {method!r}")
    if n_tokens < 1:
        raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
    model = pretrained()  # outside no_grad: the first call pre-trains it
    model.set_attn_implementation("eager")  # the fused kernel returns no attention maps
    peft_edu.apply(model, method, n_tokens=n_tokens, train_head=True)
    ids, _ = task_batch(TASK_B, n=2, seed=1)
    with one_thread(), torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
    return TokenFlow(method, n_tokens, SEQ + 1, out.hidden_states[0].shape[1],
                     [a.shape[2] for a in out.attentions], [a.shape[3] for a in out.attentions])


@dataclass(frozen=True)
class SizeRow:
    """Trainable parameters of prompt and prefix tuning on one model preset."""

    model: str
    d_model: int
    n_layers: int
    prompt: int  # trainable parameters of prompt tuning (head excluded)
    prefix: int  # of prefix tuning (head excluded)
    lora: int  # LoRA r = 8 on q, v, for scale (head excluded)
    total: int  # the base model's parameters


SIZE_PRESETS = ("gpt2", "roberta-base", "Llama-2-7B", "Llama-2-70B", "GPT-3-175B")


def size_row(model: str, n_tokens: int = 20) -> SizeRow:
    """Counts from ``peft_edu.count`` (the real modules, built on the meta device)."""
    prompt = peft_edu.count(model, "prompt_tuning", n_tokens=n_tokens, train_head=False)
    prefix = peft_edu.count(model, "prefix_tuning", n_tokens=n_tokens, train_head=False)
    lora = peft_edu.count(model, "lora", r=8, train_head=False)
    from peft_edu.models import hf_config, hf_dims

    dims = hf_dims(hf_config(model))
    return SizeRow(model, dims["d_model"], dims["n_layers"], prompt["trainable"],
                   prefix["trainable"], lora["trainable"], prompt["base_total"])


def sequence_overhead(n_tokens: int, seq_lens: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)):
    """Extra positions per sequence, as a share of the real ones: n / T for both methods.

    Prompt tuning: every layer processes n + T positions (all of the model's work grows by
    n / T). Prefix tuning: only attention sees n more keys and values (the score matrix
    grows by n / T; the feed-forward layers do not). Returns ``(seq_lens, percent)``.
    """
    if n_tokens < 0:
        raise ValueError(f"n_tokens must be >= 0, got {n_tokens}")
    return list(seq_lens), [100.0 * n_tokens / t for t in seq_lens]


@dataclass(frozen=True)
class ReparamRow:
    """Prefix tuning on one model: trained through the MLP, and kept after training."""

    model: str
    during: int  # trainable while training through P = MLP(P') (methods.prefix_tuning.reparametrized_params)
    kept: int  # the prefixes P alone, all that is saved and used afterwards (model_params)


def reparametrization_rows(n_tokens: int = 20, hidden: int = 512,
                           models: tuple[str, ...] = ("roberta-base", "Llama-2-7B")) -> list[ReparamRow]:
    """Counts from the method module's closed forms over each preset's real dimensions."""
    from peft_edu.methods import prefix_tuning
    from peft_edu.models import arch_from_config, hf_config, preset

    cfg = prefix_tuning.Config(n_tokens=n_tokens)
    rows = []
    for model in models:
        arch = arch_from_config(hf_config(model), preset(model)["task"])
        rows.append(ReparamRow(model, prefix_tuning.reparametrized_params(arch, cfg, hidden),
                               prefix_tuning.model_params(arch, cfg)))
    return rows
