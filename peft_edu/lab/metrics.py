"""Measuring a lab run: per-step metrics, accuracy, predictions, confusion matrix, memory."""
from __future__ import annotations

import resource
from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.lab.data import TOKENIZER_LOCK, Encoded


@dataclass(frozen=True)
class StepMetrics:
    """One optimizer step of a run, as the live charts draw it."""

    step: int  # 1-based step number
    steps: int  # steps planned for the run
    loss: float  # training cross-entropy of this step's batch (nats)
    batch_acc: float  # accuracy on this step's training batch, before the update (0..1)
    test_acc: float | None  # test accuracy after this step, on evaluation steps only (0..1): on the
    # first RunConfig.eval_examples texts of the test split, and on all of it at the last step
    step_time: float  # seconds for forward + backward + optimizer step
    peak_memory_bytes: int  # peak so far (GPU: allocated; CPU: resident memory of the process)
    eta_s: float  # estimated seconds until the run ends
    elapsed_s: float  # seconds since the run started (copying the model included)


def seconds_to_accuracy(metrics: list[StepMetrics], target: float = 0.9) -> float | None:
    """``elapsed_s`` of the first evaluation with ``test_acc >= target`` (its own time included), else None."""
    return next((m.elapsed_s for m in metrics if m.test_acc is not None and m.test_acc >= target), None)


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def logits_of(model: nn.Module, enc: Encoded, device: torch.device | str = "cpu",
              batch_size: int = 64, limit: int = 0) -> torch.Tensor:
    """(N, n_labels) logits of the first ``limit`` rows of ``enc`` (all when 0), on the CPU."""
    was_training = model.training
    model.eval()
    n = len(enc) if limit <= 0 else min(limit, len(enc))
    out = []
    for start in range(0, n, batch_size):
        batch = enc.batch(torch.arange(start, min(start + batch_size, n)))
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device)).logits
        out.append(logits.float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def accuracy(model: nn.Module, enc: Encoded, device: torch.device | str = "cpu", limit: int = 0) -> float:
    """Share of the (first ``limit``) rows of ``enc`` classified correctly, 0..1."""
    logits = logits_of(model, enc, device, limit=limit)
    labels = enc.labels[: logits.shape[0]]
    return float((logits.argmax(-1) == labels).float().mean()) if len(labels) else 0.0


def confusion_matrix(model: nn.Module, enc: Encoded, n_labels: int,
                     device: torch.device | str = "cpu") -> list[list[int]]:
    """``m[true][predicted]`` counts over the whole split (rows: true label)."""
    predicted = logits_of(model, enc, device).argmax(-1)
    m = torch.zeros(n_labels, n_labels, dtype=torch.long)
    m.index_put_((enc.labels, predicted), torch.ones_like(predicted), accumulate=True)
    return m.tolist()


@torch.no_grad()
def predict_proba(model: nn.Module, tokenizer, texts: list[str], max_length: int = 48) -> torch.Tensor:
    """(len(texts), n_labels) softmax probabilities; the model's own device is used."""
    device = next(model.parameters()).device
    with TOKENIZER_LOCK:
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
    was_training = model.training
    model.eval()
    logits = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)).logits
    model.train(was_training)
    return logits.float().softmax(-1).cpu()


def predict(model: nn.Module, tokenizer, text: str, label_names: tuple[str, ...] | list[str],
            max_length: int = 48) -> dict[str, float]:
    """``{label name: probability}`` for one sentence (probabilities sum to 1)."""
    probs = predict_proba(model, tokenizer, [text], max_length)[0]
    return {name: float(p) for name, p in zip(label_names, probs)}


# ---------------------------------------------------------------- memory
class _Meter:
    """Peak memory during a run: GPU bytes allocated, or the process's resident memory on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
        self._peak = 0

    def sample(self) -> int:
        now = torch.cuda.max_memory_allocated(self.device) if self.cuda else _rss_bytes()
        self._peak = max(self._peak, now)
        return self._peak

    def peak(self) -> int:
        return self.sample()


def memory_meter(device: torch.device) -> _Meter:
    return _Meter(device)


def _rss_bytes() -> int:
    """Current resident memory of this process (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
