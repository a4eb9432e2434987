"""Fine-tune the sentence encoder for retrieval with any peft_edu method, with callbacks.

``train(cfg, base, tokenizer, data, on_metrics=..., should_stop=..., on_start=...)`` copies the
shared, never-mutated ``base`` (a ``BertModel``), applies ``cfg.method`` with
``peft_edu.apply``, trains ``cfg.steps`` AdamW steps of the multiple-negatives ranking loss
(``peft_edu.embeddings.loss``) and returns an ``EmbedResult`` with the held-out metrics of the
base and the tuned model over the whole corpus. What a method needs beyond
``loss.backward(); opt.step()`` comes from its module (``protocol(method)``): optimizer
``param_groups`` and ``after_step``. It fits ``peft_edu.lab.jobs.submit_task``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from peft_edu.embeddings.data import RetrievalSet, pair_batches
from peft_edu.embeddings.loss import SCALE, mnrl
from peft_edu.embeddings.metrics import ranks, retrieval_metrics, truncated
from peft_edu.embeddings.model import MAX_LENGTH, embed, encode_batch, tokenize
from peft_edu.embeddings.probe import N_PROBE, Axes, Snapshot, fit_axes, snapshot
from peft_edu.device import best_device
from peft_edu.inject import apply, trainable_parameters, total_parameters
from peft_edu.lab.run_config import apply_options
from peft_edu.methods import protocol
from peft_edu.registry import METHODS

DIMS = (384, 128, 64)  # the embedding-size view: full MiniLM width, then cut


@dataclass(frozen=True)
class EmbedConfig:
    """One embedding fine-tune (hashable). ``config`` is the method's own frozen Config."""

    method: str = "lora"  # registry key
    config: object = None  # the method's Config (``defaults()`` takes its LAB one); required
    lr: float = 2e-3  # AdamW learning rate of the method's parameters
    steps: int = 30  # optimizer steps (LoRA on the shipped set: about +40 points recall@10)
    batch_size: int = 32  # pairs per step: each question has batch_size - 1 in-batch negatives
    copies: int = 1  # >1: the duplicates trap, each pair repeated this often inside its batch
    seed: int = 0  # batch order, dropout, the method's random init
    max_length: int = MAX_LENGTH  # tokens per text
    probe_every: int = 5  # steps between probe snapshots (histograms, 2-D map): 80 short texts each
    scale: float = SCALE  # the loss's inverse temperature
    targets: str | None = None  # linear layers a wrapping method adapts; None = its default

    def check(self) -> None:
        """Raise ValueError naming the first invalid setting and its valid range."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of: {', '.join(METHODS)}")
        if not isinstance(self.config, protocol(self.method).Config):
            raise ValueError(f"config must be a {self.method} Config, got {type(self.config).__name__}")
        for name in ("lr", "steps", "batch_size", "copies", "max_length", "probe_every", "scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.lr > 1.0:
            raise ValueError(f"lr must be at most 1, got {self.lr}")
        if self.batch_size < 2 * self.copies:
            raise ValueError(f"batch_size must be at least {2 * self.copies} (two distinct pairs), got {self.batch_size}")


def defaults(method: str, **overrides) -> EmbedConfig:
    """The method's lab default (its LAB learning rate and Config), with ``overrides``."""
    lab = protocol(method).lab
    return dataclasses.replace(EmbedConfig(method=method, config=lab.config, lr=lab.lr), **overrides)


def runnable(method: str) -> bool:
    """Methods the page offers: those that adapt layers. Soft prompts add virtual tokens,
    which the mean pooling would average into every embedding."""
    return not protocol(method).per_model


@dataclass(frozen=True)
class EmbedStep:
    """One optimizer step as the jobs queue and the page read it."""

    step: int
    steps: int
    loss: float
    eta_s: float  # seconds left (median step time × steps left, plus the final evaluation)
    elapsed_s: float
    probe: Snapshot | None = None  # set on probe steps
    base_probe: Snapshot | None = None  # the probe before training, sent with step 1 (drawn faint behind)


@dataclass
class EmbedResult:
    """What a run produced. ``model`` is the run's own tuned copy (eval mode)."""

    status: str  # "done" | "stopped" | "diverged" | "failed"
    message: str
    model: nn.Module | None
    metrics: list[EmbedStep] = field(default_factory=list)
    before: dict[str, float] = field(default_factory=dict)  # held-out metrics of the base model
    after: dict[str, float] = field(default_factory=dict)  # ... of the tuned model
    by_dims: dict[int, tuple[float, float]] = field(default_factory=dict)  # dims -> (before, after) recall@10
    ranks_before: list[int] = field(default_factory=list)  # rank of each held-out question's passage, base
    ranks_after: list[int] = field(default_factory=list)  # ... tuned
    base_probe: Snapshot | None = None  # the probe before training
    corpus_before: torch.Tensor | None = None  # (N, d) base embeddings of the corpus
    corpus_after: torch.Tensor | None = None  # (N, d) tuned embeddings
    trainable: int = 0
    total: int = 0
    seconds: float = 0.0


# ---------------------------------------------------------------- base embeddings, computed once
_BASE: dict[tuple, tuple[object, torch.Tensor]] = {}
_BASE_LOCK = threading.Lock()


def base_embeddings(base: nn.Module, tokenizer, texts: tuple[str, ...], max_length: int = MAX_LENGTH) -> torch.Tensor:
    """``embed(base, ...)`` once per (model, texts); the base never changes, runs share it."""
    key = (id(base), texts, max_length)
    with _BASE_LOCK:
        hit = _BASE.get(key)
    if hit is not None and hit[0] is base:
        return hit[1]
    out = embed(base, tokenizer, texts, max_length=max_length)
    with _BASE_LOCK:
        _BASE[key] = (base, out)
        while len(_BASE) > 8:
            _BASE.pop(next(iter(_BASE)))
    return out


def evaluate(model: nn.Module, tokenizer, data: RetrievalSet, corpus: torch.Tensor | None = None,
             max_length: int = MAX_LENGTH, device: torch.device | str = "cpu",
             ) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """(held-out metrics, query embeddings, corpus embeddings) of ``model`` on the whole corpus."""
    if corpus is None:
        corpus = embed(model, tokenizer, data.corpus, max_length=max_length, device=device)
    queries = embed(model, tokenizer, data.test_queries, max_length=max_length, device=device)
    return retrieval_metrics(queries, corpus, data.test_relevant), queries, corpus


# ---------------------------------------------------------------- the loop
def train(cfg: EmbedConfig, base: nn.Module, tokenizer, data: RetrievalSet, *,
          on_metrics: Callable[[EmbedStep], None] | None = None, should_stop: Callable[[], bool] | None = None,
          on_start: Callable[[int, int, str], None] | None = None,
          device: torch.device | str | None = None) -> EmbedResult:
    """Fine-tune a copy of ``base`` per ``cfg`` (on the GPU when there is one); never raises for
    NaN or a stop request. The base model's embeddings are computed on the CPU, once."""
    cfg.check()
    device = torch.device(device) if device is not None else best_device()
    t0 = time.perf_counter()
    result = EmbedResult("done", "", None)
    try:
        corpus0 = base_embeddings(base, tokenizer, data.corpus, cfg.max_length)
        result.before, queries0, _ = evaluate(base, tokenizer, data, corpus0, cfg.max_length)
        result.corpus_before = corpus0
        probe = _Probe(base, tokenizer, data, cfg.max_length)
        result.base_probe = probe.take(0, base)
        model = copy.deepcopy(base)
        apply(model, cfg.method, **apply_options(cfg))
        model.to(device)
        result.model = model
        result.trainable, result.total = trainable_parameters(model), total_parameters(model)
        if on_start is not None:
            on_start(result.trainable, result.total, device.type)
        _loop(cfg, model, tokenizer, data, probe, result, on_metrics, should_stop, t0, device)
        if result.status in ("done", "stopped"):
            result.after, queries1, result.corpus_after = evaluate(model, tokenizer, data, None, cfg.max_length, device)
            result.by_dims = _by_dims(data, queries0, corpus0, queries1, result.corpus_after)
            relevant = torch.tensor(data.test_relevant, dtype=torch.long)
            result.ranks_before = ranks(queries0, corpus0, relevant).tolist()
            result.ranks_after = ranks(queries1, result.corpus_after, relevant).tolist()
    finally:
        if result.model is not None:
            result.model.eval()
        result.seconds = time.perf_counter() - t0
    return result


class _Probe:
    """The fixed probe pairs (first N_PROBE held-out questions) and the base model's axes."""

    def __init__(self, base: nn.Module, tokenizer, data: RetrievalSet, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.queries = data.test_queries[:N_PROBE]
        self.passages = tuple(data.corpus[i] for i in data.test_relevant[:N_PROBE])
        q, p = self._embed(base)
        self.axes: Axes = fit_axes(torch.cat([q, p]))

    def _embed(self, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(model.parameters()).device
        return (embed(model, self.tokenizer, self.queries, max_length=self.max_length, device=device),
                embed(model, self.tokenizer, self.passages, max_length=self.max_length, device=device))

    def take(self, step: int, model: nn.Module) -> Snapshot:
        return snapshot(step, *self._embed(model), self.axes)


def _loop(cfg: EmbedConfig, model: nn.Module, tokenizer, data: RetrievalSet, probe: _Probe,
          result: EmbedResult, on_metrics, should_stop, t0: float, device: torch.device) -> None:
    """The optimizer steps; fills ``result.metrics``, sets the status on NaN or a stop."""
    method = protocol(cfg.method)
    optimizer = torch.optim.AdamW(method.param_groups(model, cfg.lr, cfg.config), lr=cfg.lr, weight_decay=0.0)
    batches = pair_batches(data.train_relevant, cfg.batch_size, cfg.seed, cfg.copies)
    torch.manual_seed(cfg.seed)  # dropout
    times: list[float] = []
    for step in range(1, cfg.steps + 1):
        if should_stop is not None and should_stop():
            result.status, result.message = "stopped", f"Stopped after {step - 1:,} of {cfg.steps:,} steps."
            return
        loss, seconds = _step(cfg, model, tokenizer, data, next(batches), optimizer, method.after_step, device)
        if not math.isfinite(loss):
            result.status = "diverged"
            result.message = (f"The loss became {'NaN' if math.isnan(loss) else 'infinite'} at step {step:,}: "
                              f"the learning rate {cfg.lr:g} is too high. Try {cfg.lr / 10:.0e}.")
            return
        times.append(seconds)
        shot = probe.take(step, model) if step % cfg.probe_every == 0 or step == cfg.steps else None
        m = EmbedStep(step, cfg.steps, loss, _eta(times, cfg.steps - step), time.perf_counter() - t0, shot,
                      result.base_probe if step == 1 else None)
        result.metrics.append(m)
        if on_metrics is not None:
            on_metrics(m)


def _step(cfg: EmbedConfig, model: nn.Module, tokenizer, data: RetrievalSet, idx: list[int],
          optimizer: torch.optim.Optimizer, after_step, device: torch.device) -> tuple[float, float]:
    """One AdamW step of the ranking loss on pairs ``idx``: (loss, seconds)."""
    t0 = time.perf_counter()
    model.train()
    q = encode_batch(model, _on(device, tokenize(tokenizer, [data.train_queries[i] for i in idx], cfg.max_length)))
    p = encode_batch(model, _on(device, tokenize(tokenizer, [data.corpus[data.train_relevant[i]] for i in idx],
                                                 cfg.max_length)))
    loss = mnrl(q, p, cfg.scale)
    value = float(loss.detach())
    if math.isfinite(value):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(model)  # the method's own update (Delta-LoRA moves W)
    if device.type == "cuda":
        torch.cuda.synchronize()  # honest step times on the GPU
    return value, time.perf_counter() - t0


def _on(device: torch.device, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _eta(times: list[float], left: int) -> float:
    recent = sorted(times[-20:])
    return recent[len(recent) // 2] * left


def _by_dims(data: RetrievalSet, q0: torch.Tensor, c0: torch.Tensor, q1: torch.Tensor,
             c1: torch.Tensor) -> dict[int, tuple[float, float]]:
    """recall@10 of base and tuned embeddings cut to each of DIMS dimensions."""
    out = {}
    for d in DIMS:
        before = retrieval_metrics(truncated(q0, d), truncated(c0, d), data.test_relevant)["recall@10"]
        after = retrieval_metrics(truncated(q1, d), truncated(c1, d), data.test_relevant)["recall@10"]
        out[d] = (before, after)
    return out
