"""A UI-free fine-tuning loop for sequence classification, with callbacks.

``train(cfg, base, tokenizer, train_set, test_set, on_metrics=..., should_stop=...)`` copies
the (shared, never mutated) ``base`` model, applies ``cfg.method`` with peft_edu's own
layers, trains ``cfg.steps`` AdamW steps on shuffled mini-batches and returns a
``TrainResult``. Everything a method needs beyond ``loss.backward(); opt.step()`` comes
from its module through ``peft_edu.methods.protocol``: optimizer ``param_groups`` (LoRA+,
arXiv 2402.12354), its own optimizer (GaLore, arXiv 2403.03507), an ``after_step`` update
(Delta-LoRA's W, arXiv 2309.02411), restarts and a learning-rate schedule (ReLoRA, 2307.05695). ``"head_only"`` is the baseline that trains only the
classifier head on the frozen encoder (a linear probe).

Evaluation is cheap so that it can be frequent: every ``cfg.eval_every`` steps the run scores
the first ``cfg.eval_examples`` texts of the test split (a fixed subset; 0 = all of it), and
its last step scores the whole test split, which is ``TrainResult.test_accuracy``. A run's
"time to 90 %" (``TrainResult.seconds_to_accuracy(0.9)``) is the wall time from the start of
``train()`` until the first of those evaluations that reported at least 90 %.

A loss that becomes NaN or infinite stops the run (status ``"diverged"``) with a message
that suggests a lower learning rate; CUDA out-of-memory stops it (status ``"oom"``).
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from peft_edu.lab.data import Dataset, Encoded, batch_indices, encode_cached
from peft_edu.device import best_device, cpu_cores
from peft_edu.inject import apply, trainable_parameters, total_parameters
from peft_edu.lab.run_config import HEAD_ONLY, RunConfig, apply_options
from peft_edu.methods import protocol
from peft_edu.lab.run_memory import RunMemory, SavedTensorMeter, rss_bytes, state_split
from peft_edu.lab.metrics import (StepMetrics, accuracy, confusion_matrix, memory_meter, predict,
                                    predict_proba, seconds_to_accuracy)

__all__ = ["RunConfig", "StepMetrics", "TrainResult", "HEAD_ONLY", "prepare_model", "train",
           "accuracy", "confusion_matrix", "predict", "predict_proba", "training_threads"]

MetricsCallback = Callable[[StepMetrics], None]


@dataclass
class TrainResult:
    """What a run produced. ``model`` is the run's own trained copy (eval mode)."""

    status: str  # "done" | "stopped" (stop requested) | "diverged" (NaN/inf loss) | "oom" | "failed"
    message: str  # one sentence for the learner; "" when done
    model: nn.Module | None  # the trained copy (None if it could not even be built)
    metrics: list[StepMetrics] = field(default_factory=list)  # one per optimizer step taken
    test_accuracy: float | None = None  # on the whole test split, at the end
    trainable: int = 0  # trainable parameters of the run's model
    total: int = 0  # all parameters of the run's model
    seconds: float = 0.0  # wall time of the whole run (copy, apply, train, evaluate)
    peak_memory_bytes: int = 0  # GPU: max allocated; CPU: peak resident memory of the process
    device: str = "cpu"  # "cpu" or "cuda"
    train_state_bytes: int = 0  # weights + gradients + optimizer states of this run's copy (counted tensors)
    memory: dict = field(default_factory=dict)  # the run's own memory split (peft_edu.lab.run_memory.RunMemory.as_dict)
    drift: float | None = None  # 1 − mean cosine to the base's sentence embeddings on general text (lab.drift)

    def seconds_to_accuracy(self, target: float = 0.9) -> float | None:
        """Wall seconds from the start of the run to its first evaluation scoring >= ``target``
        (a subset evaluation during training, the whole test split at the last step); None if none did."""
        return seconds_to_accuracy(self.metrics, target)


# ---------------------------------------------------------------- model
def prepare_model(base: nn.Module, cfg: RunConfig, device: torch.device | str = "cpu") -> nn.Module:
    """A deep copy of ``base`` with ``cfg.method`` applied, on ``device``. ``base`` is untouched.

    The copy's own dropout layers (hidden, attention, classifier) are set to ``cfg.model_dropout``
    before the method is applied, so a method's own dropout (LoRA's ``dropout``) keeps its value."""
    return _prepared(base, cfg, device)[0]


def _prepared(base: nn.Module, cfg: RunConfig, device) -> tuple[nn.Module, list]:
    """``prepare_model``, and the (base tensor, its copy) pairs of every parameter and buffer,
    taken before the method is applied (``share_unchanged`` reads them when the run has ended)."""
    memo: dict = {}
    model = copy.deepcopy(base, memo)
    pairs = [(t, memo[id(t)]) for t in (*base.parameters(), *base.buffers()) if id(t) in memo]
    set_model_dropout(model, cfg.model_dropout)
    if cfg.method == HEAD_ONLY:
        _head_only(model)
    else:
        apply(model, cfg.method, **apply_options(cfg))
    return model.to(device), pairs


def share_unchanged(pairs: list) -> None:
    """After a run: every tensor of the copy that is frozen and still equal to the base's, on
    the same device, is pointed at the base's storage.

    A trained copy of all-MiniLM-L6-v2 is ~90 MB, and the lab holds several finished runs' models
    for Try it. Most of each copy is the frozen encoder, unchanged by the run, so a kept LoRA
    model then costs about its adapter. Tensors the run changed (trained ones, a frozen W that
    PiSSA, Delta-LoRA or ReLoRA moved) keep their own values: only exact equals are shared. The
    kept model is only read afterwards (Try it, the confusion matrix); nothing trains it again."""
    with torch.no_grad():
        for original, copied in pairs:
            if (copied.requires_grad or copied.device != original.device or copied.dtype != original.dtype
                    or copied.shape != original.shape or copied.data_ptr() == original.data_ptr()):
                continue
            if torch.equal(copied, original):
                copied.data = original.data


def set_model_dropout(model: nn.Module, p: float) -> None:
    """Set every ``nn.Dropout`` of ``model`` to probability ``p``.

    BERT's attention reads its dropout from ``self.dropout.p`` when it calls
    ``scaled_dot_product_attention``, so this covers the attention weights too. With ``p = 0``
    a step is also a little cheaper: no masks are drawn, and none is saved for the backward pass."""
    for layer in model.modules():
        if isinstance(layer, nn.Dropout):
            layer.p = p


def _head_only(model: nn.Module) -> None:
    """Freeze everything but the task head (a linear probe on the frozen encoder)."""
    from peft_edu.models import arch_of

    model.requires_grad_(False)
    for name in arch_of(model).head:
        model.get_submodule(name).requires_grad_(True)


def make_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.AdamW:
    """AdamW: the method's parameter groups at ``lr`` (the method's own ``param_groups``: LoRA+
    puts every B at ``ratio × lr``), the task head at ``head_lr``. One head rate for every
    method keeps a race fair and keeps the large rates of soft prompts, VeRA and (IA)³ from
    wrecking the freshly initialised head."""
    if cfg.method == HEAD_ONLY:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr}]
    else:
        groups = protocol(cfg.method).param_groups(model, cfg.lr, cfg.config)
    head = set() if cfg.method == HEAD_ONLY else _head_parameter_ids(model)
    for group in groups:
        group["params"] = [p for p in group["params"] if id(p) not in head]
    head_params = [p for p in model.parameters() if p.requires_grad and id(p) in head]
    groups = [g for g in groups if g["params"]] + ([{"params": head_params, "lr": cfg.head_lr}] if head_params else [])
    own = None if cfg.method == HEAD_ONLY else protocol(cfg.method).make_optimizer
    if own is not None:  # the method's own optimizer (GaLore's projected Adam)
        return own(groups, cfg.config)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=0.0)


def _head_parameter_ids(model: nn.Module) -> set[int]:
    from peft_edu.models import arch_of

    return {id(p) for name in arch_of(model).head for p in model.get_submodule(name).parameters()}


def train_state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the run's own tensors: weights and buffers, gradients, AdamW's two moments.

    Counted from the tensors themselves (not activations, which come and go each step):
    the number a results table can compare across methods, whatever else shares the process.
    """
    tensors = [*model.parameters(), *model.buffers()]
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors}.values())


def after_step_hook(cfg: RunConfig) -> Callable[[nn.Module], None] | None:
    """The method's update after each optimizer step (Delta-LoRA moves W), or None."""
    return None if cfg.method == HEAD_ONLY else protocol(cfg.method).after_step


def scheduled_lr(optimizer: torch.optim.Optimizer, base_lrs: list[float], spec, step: int, steps: int, config) -> None:
    """Every group at its base rate × the method's ``lr_schedule`` factor (ReLoRA's jagged cosine)."""
    factor = spec.lr_factor(step, steps, config)
    for group, lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = lr * factor


def training_threads(concurrent_runs: int = 1, spare_core: bool = False) -> int:
    """Threads one run's torch ops should use (set inside the training thread).

    ``spare_core``: leave one core to the server's page runs (a class is browsing:
    ``peft_edu.lab.priority.class_browsing``).

    The CPU cores shared by the concurrent runs, or one thread when the machine is already
    oversubscribed (1-minute load average above the core count): intra-op threads wait for
    each other at every operation, and a descheduled one stalls the rest — measured on this
    2-core machine at load 10, a MiniLM LoRA step took 0.9 s on 1 thread and 8.8 s on 2.
    The load is the 1-minute average, but no more than the tasks runnable right now: the average
    still counts a run that ended a moment ago (a learner's previous run, 2 threads for 10 s, keeps
    it near 2 for a minute), which would put the next run on one thread for nothing.
    The environment variable PEFT_LAB_THREADS overrides the choice.
    """
    raw = os.environ.get("PEFT_LAB_THREADS", "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    cores = cpu_cores()
    if spare_core and cores > 1:
        cores -= 1
    if hasattr(os, "getloadavg"):
        load, now = os.getloadavg()[0], runnable_now()
        if (load if now is None else min(load, now)) > cores:
            return 1
    return max(1, cores // max(1, concurrent_runs))


def runnable_now() -> int | None:
    """Tasks runnable on the machine at this instant, this thread aside (Linux: the 4th field of
    /proc/loadavg, "running/total"); None where the kernel does not say."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return max(0, int(f.read().split()[3].split("/")[0]) - 1)
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------- the loop
def train(cfg: RunConfig, base: nn.Module, tokenizer, train_set: Dataset, test_set: Dataset, *,
          on_metrics: MetricsCallback | None = None, should_stop: Callable[[], bool] | None = None,
          device: torch.device | str | None = None,
          on_start: Callable[[int, int, str], None] | None = None,
          general_texts: tuple[str, ...] = ()) -> TrainResult:
    """Fine-tune a copy of ``base`` per ``cfg``; never raises for NaN, OOM or a stop request.

    ``on_metrics(StepMetrics)`` is called after every step (``test_acc`` is set on evaluation
    steps); ``should_stop()`` is polled before every step; ``on_start(trainable, total, device)``
    is called once the run's model is built, before the first step. Invalid configs raise ValueError
    before any training starts. With ``general_texts`` (held-out text that is not the task's, e.g.
    ``peft_edu.lab.drift.general_texts()``), a run that ended with a model measures how far its
    encoder drifted from ``base`` on them (``TrainResult.drift``), after the timed part.
    """
    cfg.check()
    device = torch.device(device) if device is not None else best_device()
    t0 = time.perf_counter()
    meter = memory_meter(device)
    saved = SavedTensorMeter()  # what autograd keeps for backward, the run's peak
    rss0 = rss_bytes() if device.type == "cpu" else 0
    result = TrainResult("done", "", None, device=device.type)
    try:
        train_enc = encode_cached(tokenizer, train_set, cfg.max_length)
        test_enc = encode_cached(tokenizer, test_set, cfg.max_length)
        model, pairs = _prepared(base, cfg, device)
        result.model = model
        result.trainable, result.total = trainable_parameters(model), total_parameters(model)
        if on_start is not None:
            on_start(result.trainable, result.total, device.type)
        optimizer = _loop(cfg, model, train_enc, test_enc, result, meter, on_metrics, should_stop, device, t0, saved)
        result.train_state_bytes = train_state_bytes(model, optimizer)
        growth = max(0, meter.peak() - rss0) if device.type == "cpu" else 0
        result.memory = RunMemory(*state_split(model, optimizer), saved.peak, growth).as_dict()
        if result.status in ("done", "stopped") and result.test_accuracy is None:  # stopped early
            result.test_accuracy = accuracy(model, test_enc, device)
    except torch.OutOfMemoryError:
        _oom(result, cfg, device)
    except RuntimeError as err:
        if not any(s in str(err).lower() for s in ("out of memory", "can't allocate memory")):
            raise
        _oom(result, cfg, device)
    finally:
        if result.model is not None:
            result.model.eval()
        result.seconds = time.perf_counter() - t0
        result.peak_memory_bytes = meter.peak()
    _measure_drift(result, base, tokenizer, general_texts, cfg.max_length)  # untimed: not in seconds
    if result.model is not None:
        share_unchanged(pairs)  # a kept model holds only what the run changed
    return result


def _measure_drift(result: TrainResult, base: nn.Module, tokenizer, texts: tuple[str, ...],
                   max_length: int) -> None:
    """``result.drift`` of a run that kept a model (done or stopped), when general texts were given."""
    if texts and result.model is not None and result.status in ("done", "stopped"):
        from peft_edu.lab.drift import encoder_drift

        result.drift = encoder_drift(base, result.model, tokenizer, texts, max_length)


def _loop(cfg: RunConfig, model: nn.Module, train_enc: Encoded, test_enc: Encoded, result: TrainResult,
          meter, on_metrics, should_stop, device: torch.device, t0: float,
          saved: SavedTensorMeter | None = None) -> torch.optim.Optimizer:
    """The optimizer steps; fills ``result.metrics`` and sets its status on NaN or stop."""
    optimizer = make_optimizer(model, cfg)
    after_step = after_step_hook(cfg)
    spec = None if cfg.method == HEAD_ONLY else protocol(cfg.method)
    restart = spec.after_optimizer_step if spec is not None else None  # ReLoRA: merge, restart, prune
    extra = spec.extra_loss if spec is not None else None  # AdaLoRA's regulariser, added to the loss
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    batches = batch_indices(len(train_enc), cfg.batch_size, cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout inside a method
    clock = _Clock(cfg, len(test_enc))
    for step in range(1, cfg.steps + 1):
        started = time.perf_counter()
        if should_stop is not None and should_stop():
            result.status, result.message = "stopped", f"Stopped after {step - 1:,} of {cfg.steps:,} steps."
            break
        batch = {k: v.to(device) for k, v in train_enc.batch(next(batches)).items()}
        if spec is not None and spec.has_lr_schedule:
            scheduled_lr(optimizer, base_lrs, spec, step - 1, cfg.steps, cfg.config)
        with saved.measure(model) if saved is not None else contextlib.nullcontext():
            loss, batch_acc, seconds = _train_step(model, optimizer, after_step, batch, extra)
        if not math.isfinite(loss):
            result.status, result.message = "diverged", _diverged_message(cfg, step, loss)
            break
        if restart is not None:
            restart(model, optimizer, step, cfg.config)
        test_acc = _evaluate(cfg, step, model, test_enc, device, clock)
        if step == cfg.steps:
            result.test_accuracy = test_acc  # the whole test split
        m = StepMetrics(step, cfg.steps, loss, batch_acc, test_acc, seconds, meter.sample(),
                        clock.eta(step, started), time.perf_counter() - t0)
        result.metrics.append(m)
        if on_metrics is not None:
            on_metrics(m)
        clock.lap(time.perf_counter() - started)
    return optimizer


def _evaluate(cfg: RunConfig, step: int, model: nn.Module, test_enc: Encoded, device: torch.device,
              clock: "_Clock") -> float | None:
    """Test accuracy on evaluation steps (None on the others): the fixed subset of
    ``cfg.eval_examples`` texts every ``cfg.eval_every`` steps, the whole split at the last step."""
    last = step == cfg.steps
    if not last and step % cfg.eval_every:
        return None
    n = len(test_enc) if last or cfg.eval_examples <= 0 else min(cfg.eval_examples, len(test_enc))
    t0 = time.perf_counter()
    acc = accuracy(model, test_enc, device, limit=n)
    clock.evaluated(time.perf_counter() - t0, n)
    return acc


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, after_step, batch: dict,
                extra_loss=None) -> tuple[float, float, float]:
    """One AdamW step on ``batch``: (loss, accuracy on the batch, seconds). No update if the loss is not finite."""
    t0 = time.perf_counter()
    model.train()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    loss = nn.functional.cross_entropy(logits, batch["labels"])
    value = float(loss.detach())
    if not math.isfinite(value):
        return value, 0.0, time.perf_counter() - t0
    optimizer.zero_grad(set_to_none=True)
    (loss if extra_loss is None else loss + extra_loss(model)).backward()  # the reported loss: the task's
    optimizer.step()
    if after_step is not None:
        after_step(model)  # the method's own update (Delta-LoRA: W moves by the change of B A)
    batch_acc = float((logits.detach().argmax(-1) == batch["labels"]).float().mean())
    if logits.is_cuda:
        torch.cuda.synchronize()  # honest step times on the GPU
    return value, batch_acc, time.perf_counter() - t0


class _Clock:
    """The run's own step and evaluation times, for the ETA.

    ETA = mean of the last 20 steps' wall times (the whole loop iteration: batch, forward,
    backward, optimizer, the method's updates, callbacks; evaluation excluded) × steps left +
    the evaluations left at the measured seconds per test text (the subset ones and the final
    whole split). Until the first evaluation, a test text is priced at a third of a training
    text (the forward pass alone, of roughly three passes' work). On a loaded machine a few
    steps wait long for a core; the median ignored them and fell ~40 % short of the truth."""

    def __init__(self, cfg: RunConfig, n_test: int) -> None:
        self.cfg, self.n_test = cfg, n_test
        self.steps: list[float] = []  # wall seconds per loop iteration, evaluation excluded
        self.per_text: float | None = None  # seconds per test text of the latest evaluation
        self.eval_s = 0.0  # seconds of evaluation in the current iteration

    def evaluated(self, seconds: float, n_texts: int) -> None:
        self.per_text, self.eval_s = seconds / max(1, n_texts), seconds

    def lap(self, seconds: float) -> None:
        """The iteration that took ``seconds`` (its evaluation included) has ended."""
        self.steps.append(seconds - self.eval_s)
        self.eval_s = 0.0

    def eta(self, step: int, started: float) -> float:
        """Seconds left after ``step``, whose iteration began at ``started`` (perf_counter)."""
        left = self.cfg.steps - step
        if not left:
            return 0.0
        recent = self.steps[-20:] or [time.perf_counter() - started - self.eval_s]
        per_step = sum(recent) / len(recent)  # the mean, not the median: what is left is a sum of steps
        per_text = self.per_text if self.per_text is not None else per_step / self.cfg.batch_size / 3
        subset = self.n_test if self.cfg.eval_examples <= 0 else min(self.cfg.eval_examples, self.n_test)
        every = self.cfg.eval_every
        subset_evals = (self.cfg.steps - 1) // every - step // every  # eval steps in (step, last step)
        return per_step * left + per_text * (subset * subset_evals + self.n_test)


def _diverged_message(cfg: RunConfig, step: int, loss: float) -> str:
    what = "NaN" if math.isnan(loss) else "infinite"
    lower = f"{cfg.lr / 10:.0e}"
    return (f"The loss became {what} at step {step:,}: the learning rate {cfg.lr:g} is too high for "
            f"this run. Try a lower learning rate, e.g. {lower}.")


def _oom(result: TrainResult, cfg: RunConfig, device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    result.status = "oom"
    result.message = (f"The {'GPU' if device.type == 'cuda' else 'machine'} ran out of memory. Try a "
                      f"smaller batch size (now {cfg.batch_size}) or a shorter max length "
                      f"(now {cfg.max_length} tokens), or wait for other runs to finish.")
