"""A tiny character-level GPT and the text it is pre-trained on (the pre-training lesson).

The corpus is generated, not downloaded: ``corpus(seed)`` writes short paragraphs of simple
English sentences from a fixed word list with a seeded ``random.Random`` — the same text on
every machine, nothing to ship. The held-out text comes from another seed, so its sentences
are new combinations of the same words and grammar. Learning it needs more than letter pairs:
spelling whole words, then which words may follow which.

``CharLM`` is a decoder-only transformer in the style of nanoGPT (pre-LayerNorm, causal
self-attention, GELU MLP, untied head, no biases in the linear layers) that describes its own
layout to ``peft_edu.apply`` through ``peft_edu_arch()``, so the methods find its q, k, v, o,
up and down projections like they find BERT's or GPT-2's.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu.models import Arch

# ---------------------------------------------------------------- the corpus
WHO = ("the old miller", "a young sailor", "the tired baker", "my sister", "the quiet farmer", "a small boy",
       "the king", "our teacher", "the gray fox", "a clever girl", "the river keeper", "his mother")
DID = ("found", "carried", "painted", "sold", "watched", "mended", "hid", "wanted", "lost", "gave away",
       "counted", "opened")
WHAT = ("a red boat", "the silver key", "an old map", "two brown hens", "a basket of apples", "the broken gate",
        "a letter", "the heavy bell", "three blue stones", "a warm coat", "the last candle", "a wooden horse")
WHERE = ("by the river", "in the market", "at dawn", "before the rain", "near the mill", "on the hill",
         "after supper", "in the garden", "under the bridge", "at the fair")
THEN = ("and then", "but later", "so", "while")


def sentence(rng: random.Random) -> str:
    """One sentence: who did what where, sometimes with a second clause."""
    s = f"{rng.choice(WHO)} {rng.choice(DID)} {rng.choice(WHAT)} {rng.choice(WHERE)}"
    if rng.random() < 0.4:
        s += f", {rng.choice(THEN)} {rng.choice(WHO)} {rng.choice(DID)} {rng.choice(WHAT)}"
    return s[0].upper() + s[1:] + "."


def corpus(n_chars: int, seed: int) -> str:
    """About ``n_chars`` characters of paragraphs (3–5 sentences, one per line), deterministic in ``seed``."""
    rng, lines, size = random.Random(seed), [], 0
    while size < n_chars:
        line = " ".join(sentence(rng) for _ in range(rng.randint(3, 5)))
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def alphabet(*texts: str) -> str:
    """Every character of ``texts``, sorted: the model's vocabulary."""
    return "".join(sorted(set("".join(texts))))


def encode(text: str, chars: str) -> torch.Tensor:
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in text], dtype=torch.long)


# ---------------------------------------------------------------- the model
@dataclass(frozen=True)
class CharLMConfig:
    """Sizes of the tiny GPT."""

    vocab: int  # number of characters
    d_model: int = 128  # width d: r = 64 is half of it, so LoRA at r = 64 is still low rank
    n_layers: int = 2  # transformer blocks
    n_heads: int = 4  # attention heads
    d_ff: int = 256  # MLP inner width
    context: int = 64  # characters the model sees at once


class Attention(nn.Module):
    def __init__(self, cfg: CharLMConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        heads = [t.view(B, T, self.n_heads, d // self.n_heads).transpose(1, 2)  # (B, h, T, d/h)
                 for t in (self.q(x), self.k(x), self.v(x))]
        y = F.scaled_dot_product_attention(*heads, is_causal=True)  # (B, h, T, d/h)
        return self.o(y.transpose(1, 2).reshape(B, T, d))


class MLP(nn.Module):
    def __init__(self, cfg: CharLMConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, cfg: CharLMConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn, self.mlp = Attention(cfg), MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharLM(nn.Module):
    """Token + position embeddings, ``n_layers`` blocks, final LayerNorm, head to the characters."""

    LINEAR = ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.up", "mlp.down")  # in every block

    def __init__(self, cfg: CharLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab, bias=False)
        self.apply(_init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith(("attn.o.weight", "mlp.down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) character ids -> (B, T, vocab) logits of the next character."""
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean next-character cross-entropy (nats) over a (B, T + 1) batch of windows."""
        logits = self(ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    def peft_edu_arch(self) -> Arch:
        """Where ``peft_edu.apply`` finds this model's layers (see ``peft_edu.models.arch_of``)."""
        c = self.cfg
        shapes = (("attn.q", c.d_model, c.d_model), ("attn.k", c.d_model, c.d_model),
                  ("attn.v", c.d_model, c.d_model), ("attn.o", c.d_model, c.d_model),
                  ("mlp.up", c.d_ff, c.d_model), ("mlp.down", c.d_model, c.d_ff))
        return Arch("charlm", "charlm", "causal_lm", c.d_model, c.n_layers, c.n_heads, c.n_heads, c.d_ff,
                    "blocks", "attn", "attn.q", "attn.k", "attn.v", "attn.o", ("mlp.up",), "mlp.down", "tok",
                    ("lm_head",), self.LINEAR, False, head_dim=c.d_model // c.n_heads, shapes=shapes)


def _init(m: nn.Module) -> None:
    """nanoGPT's initialisation: N(0, 0.02) for linear and embedding weights."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)


def char_lm(cfg: CharLMConfig, seed: int = 0) -> CharLM:
    """A randomly initialised ``CharLM``, the same for the same seed."""
    torch.manual_seed(seed)
    return CharLM(cfg)
