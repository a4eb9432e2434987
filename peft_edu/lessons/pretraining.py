"""Why LoRA is not used for pre-training — as an experiment.

A tiny character-level GPT (``peft_edu.lessons.charlm``) is pre-trained from random weights
on a generated corpus six times, with the same batches (the same token budget) and the same
warm-up + cosine learning-rate shape: full training, LoRA at r = 4, 16 and 64, ReLoRA
(arXiv 2307.05695) and GaLore (arXiv 2403.03507). Every method reaches the model through
``peft_edu.apply`` and the method protocol (its parameter groups, its own optimizer, its
after-step hooks and its learning-rate schedule), exactly as on the method pages.

In every run the embeddings, the LayerNorms and the head train in full (as in the ReLoRA and
GaLore papers, which apply the low-rank part to the attention and MLP matrices only); the
methods differ in how the blocks' q, k, v, o, up and down weights learn. Recorded per run:
the training loss (mean over each stretch of ``eval_every`` batches), the held-out loss, the
singular values of each of those weights' total change W − W0, and the memory, measured on
the tensors themselves: trainable parameters, gradient bytes and optimizer-state bytes.

Everything is plain data (``Experiment.to_json``), so Streamlit caches it and
``scripts/make_pretraining.py`` can store it in ``assets/data/pretraining.json``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import peft_edu
from peft_edu.lessons.charlm import CharLM, CharLMConfig, alphabet, char_lm, corpus, encode
from peft_edu.lessons.core import one_thread
from peft_edu.methods import protocol
from peft_edu.methods.layers import base_weight

ASSET = Path(__file__).resolve().parents[2] / "assets" / "data" / "pretraining.json"
RANK_TOL = 1e-4  # a singular value below RANK_TOL × the largest counts as zero (float32 noise)
ENERGY = 0.9  # the "energy rank": fewest singular values holding 90 % of ‖W − W0‖²_F


@dataclass(frozen=True)
class RunSpec:
    """One run of the experiment: a method of the registry and its options."""

    label: str  # shown in legends and tables; also the run's id
    method: str  # registry key
    lr: float  # peak learning rate (chosen by a small sweep per method, see RUNS)
    options: tuple[tuple[str, object], ...] = ()  # the method's Config fields
    r: int = 0  # the rank the method is limited to per update (0: none)


# Peak rates: the best held-out loss of each run over {2e-3, 5e-3, 1e-2, 2e-2, 4e-2} at this budget
# (python scripts/make_pretraining.py --sweep). GaLore's is the highest because its scale α = 0.25
# shrinks the projected step. LoRA's alpha = 2r keeps the scaling at 2 for every r. ReLoRA restarts
# every 50 of the 300 steps; GaLore refreshes its projector every 50.
FULL, RELORA, GALORE = "Full training", "ReLoRA r = 16", "GaLore r = 16"  # run labels (the runs' ids)
LORAS = ("LoRA r = 4", "LoRA r = 16", "LoRA r = 64")
RUNS = (
    RunSpec(FULL, "full", 5e-3),
    RunSpec(LORAS[0], "lora", 1e-2, (("r", 4), ("alpha", 8.0)), r=4),
    RunSpec(LORAS[1], "lora", 5e-3, (("r", 16), ("alpha", 32.0)), r=16),
    RunSpec(LORAS[2], "lora", 2e-3, (("r", 64), ("alpha", 128.0)), r=64),
    RunSpec(RELORA, "relora", 5e-3, (("r", 16), ("alpha", 32.0), ("reset_every", 50), ("warmup", 30),
                                     ("restart_warmup", 5), ("min_lr_ratio", 0.1)), r=16),
    RunSpec(GALORE, "galore", 4e-2, (("r", 16), ("update_proj_gap", 50), ("scale", 0.25)), r=16),
)


def spec(label: str) -> RunSpec:
    """The RunSpec of the run called ``label``."""
    for s in RUNS:
        if s.label == label:
            return s
    raise KeyError(f"no run {label!r}; runs: {', '.join(s.label for s in RUNS)}")


@dataclass(frozen=True)
class Budget:
    """The shared budget and sizes: every run sees the same batches in the same order."""

    steps: int = 300  # optimizer steps
    batch: int = 16  # windows per step
    context: int = 32  # characters per window: steps × batch × context tokens in all
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    train_chars: int = 60_000  # size of the generated training text
    held_chars: int = 6_000  # held-out text (another seed of the same generator)
    held_windows: int = 64  # windows of the held-out text the held-out loss averages over
    eval_every: int = 25  # held-out loss every this many steps
    warmup: int = 30  # linear warm-up steps, then a cosine to 10 % (ReLoRA's own schedule is jagged)
    clip: float = 1.0  # gradient-norm clipping, as in GPT-2/Llama pre-training (it keeps high rates stable)
    seed: int = 0

    @property
    def tokens(self) -> int:
        return self.steps * self.batch * self.context


@dataclass
class RunResult:
    """What one run recorded (plain data)."""

    label: str
    method: str
    r: int
    steps: list[int] = field(default_factory=list)  # step of each point of the curves
    train: list[float] = field(default_factory=list)  # mean training loss of the batches since the last point
    held: list[float] = field(default_factory=list)  # held-out loss at that step (nats per character)
    spectra: dict[str, list[float]] = field(default_factory=dict)  # layer -> singular values of W − W0
    trainable: int = 0  # parameters with requires_grad
    total: int = 0  # all parameters of the model
    grad_bytes: int = 0  # bytes of the gradients after a backward pass
    optimizer_bytes: int = 0  # bytes of every tensor in the optimizer's state
    weight_bytes: int = 0  # bytes of every parameter and buffer
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of this process during the run (the machine may be shared)

    def ranks(self) -> dict[str, int]:
        return {name: numerical_rank(np.asarray(s)) for name, s in self.spectra.items()}

    def energy_ranks(self) -> dict[str, int]:
        return {name: energy_rank(np.asarray(s)) for name, s in self.spectra.items()}


@dataclass
class Experiment:
    budget: Budget
    runs: list[RunResult]
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def run(self, label: str) -> RunResult:
        for run in self.runs:
            if run.label == label:
                return run
        raise KeyError(f"no run {label!r}; runs: {', '.join(r.label for r in self.runs)}")

    def to_json(self) -> str:
        return json.dumps({"budget": dataclasses.asdict(self.budget), "wall_s": self.wall_s, "cpu_s": self.cpu_s,
                           "runs": [dataclasses.asdict(r) for r in self.runs]})

    @classmethod
    def from_json(cls, text: str) -> "Experiment":
        data = json.loads(text)
        return cls(Budget(**data["budget"]), [RunResult(**r) for r in data["runs"]], data["wall_s"], data["cpu_s"])


# ---------------------------------------------------------------- ranks
def numerical_rank(s: np.ndarray) -> int:
    """Singular values above RANK_TOL × the largest: the directions W moved in at all."""
    return int((s > RANK_TOL * s.max()).sum()) if s.size and s.max() > 0 else 0


def energy_rank(s: np.ndarray, share: float = ENERGY) -> int:
    """Fewest singular values whose squares hold ``share`` of the total: where the change lives."""
    e = np.cumsum(s.astype(np.float64) ** 2)
    return int(np.searchsorted(e, share * e[-1]) + 1) if e.size and e[-1] > 0 else 0


# ---------------------------------------------------------------- data
@dataclass(frozen=True)
class Data:
    train: torch.Tensor  # (n,) character ids
    held: torch.Tensor  # (held_windows, context + 1) fixed held-out windows
    vocab: int


def make_data(b: Budget) -> Data:
    train_text, held_text = corpus(b.train_chars, b.seed + 1), corpus(b.held_chars, b.seed + 2)
    chars = alphabet(train_text, held_text)
    held = encode(held_text, chars)
    return Data(encode(train_text, chars), windows(held, b.held_windows, b.context, b.seed + 3), len(chars))


def windows(ids: torch.Tensor, n: int, context: int, seed: int) -> torch.Tensor:
    """``n`` random windows of ``context + 1`` characters (input and next-character target)."""
    starts = torch.randint(0, len(ids) - context - 1, (n,), generator=torch.Generator().manual_seed(seed))
    return torch.stack([ids[s:s + context + 1] for s in starts.tolist()])


# ---------------------------------------------------------------- one run
def build(spec: RunSpec, b: Budget, vocab: int) -> CharLM:
    """A fresh random CharLM (the same for every run) with the method applied; embeddings,
    norms and head unfrozen (they train in every run)."""
    model = char_lm(CharLMConfig(vocab, b.d_model, b.n_layers, b.n_heads, b.d_ff, b.context), seed=b.seed)
    method = protocol(spec.method)
    targets = list(CharLM.LINEAR) if method.uses_targets else None
    peft_edu.apply(model, spec.method, targets=targets, train_head=True, **dict(spec.options))
    for name, p in model.named_parameters():
        if not any(name.startswith(t + ".") for t in model.peft_edu_applied.arch.targets):
            p.requires_grad_(True)  # outside the adapted layers: embeddings, LayerNorms, head
    return model


def lr_factor(step: int, b: Budget, spec: RunSpec, cfg) -> float:
    """Warm-up then cosine to 10 % — or the method's own schedule (ReLoRA's jagged cosine)."""
    method = protocol(spec.method)
    if method.has_lr_schedule:
        return method.lr_factor(step, b.steps, cfg)
    if step < b.warmup:
        return (step + 1) / b.warmup
    progress = (step - b.warmup) / max(1, b.steps - b.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def optimizer_for(model: CharLM, spec: RunSpec) -> torch.optim.Optimizer:
    """The method's own optimizer over its groups (GaLore), else Adam."""
    method, cfg = protocol(spec.method), model.peft_edu_applied.config
    groups = method.param_groups(model, spec.lr, cfg)
    for group in groups:
        group["peak_lr"] = group["lr"]
    if method.make_optimizer is not None:
        return method.make_optimizer(groups, cfg)
    return torch.optim.Adam(groups)


def train_run(spec: RunSpec, b: Budget, data: Data) -> RunResult:
    """Pre-train one model from random weights on the shared batches; record curves, ranks, memory."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = build(spec, b, data.vocab)
    W0 = {name: effective_weight(model, name).clone() for name in linear_names(b)}  # ΔW = 0 at the start
    method, cfg = protocol(spec.method), model.peft_edu_applied.config
    opt = optimizer_for(model, spec)
    out = RunResult(spec.label, spec.method, spec.r, trainable=peft_edu.trainable_parameters(model),
                    total=sum(p.numel() for p in model.parameters()))
    gen = torch.Generator().manual_seed(b.seed + 10)  # the batches: the same for every run
    torch.manual_seed(b.seed + 20)  # re-initialisations inside a method (ReLoRA's A) are seeded too
    since: list[float] = []
    for step in range(b.steps):
        for group in opt.param_groups:
            group["lr"] = group["peak_lr"] * lr_factor(step, b, spec, cfg)
        loss = model.loss(windows_from(data.train, b, gen))
        if step == 0:  # the random start: loss of the first batch and of the held-out text
            out.steps.append(0), out.train.append(float(loss.detach())), out.held.append(held_loss(model, data))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], b.clip)
        if step == b.steps - 1:
            out.grad_bytes = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters()
                                 if p.grad is not None)
        opt.step()
        if method.after_step is not None:
            method.after_step(model)
        if method.after_optimizer_step is not None:
            method.after_optimizer_step(model, opt, step + 1, cfg)
        since.append(float(loss.detach()))
        if (step + 1) % b.eval_every == 0 or step + 1 == b.steps:
            out.steps.append(step + 1), out.train.append(float(np.mean(since))), out.held.append(held_loss(model, data))
            since = []
    out.spectra = {name: singular_values(effective_weight(model, name) - W0[name]) for name in W0}
    out.optimizer_bytes = state_bytes(opt)
    out.weight_bytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    out.wall_s, out.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    return out


def linear_names(b: Budget) -> list[str]:
    return [f"blocks.{i}.{rel}" for i in range(b.n_layers) for rel in CharLM.LINEAR]


def windows_from(ids: torch.Tensor, b: Budget, gen: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, len(ids) - b.context - 1, (b.batch,), generator=gen)
    return torch.stack([ids[s:s + b.context + 1] for s in starts.tolist()])


@torch.no_grad()
def held_loss(model: CharLM, data: Data) -> float:
    return float(model.loss(data.held))


@torch.no_grad()
def effective_weight(model: CharLM, name: str) -> torch.Tensor:
    """The weight the layer computes with, in float64: W (full, GaLore) or W + ΔW (LoRA, ReLoRA)."""
    layer = model.get_submodule(name)
    if not hasattr(layer, "base"):
        return layer.weight.detach().double()
    W = base_weight(layer.base).detach().double()
    delta = getattr(layer, "delta_weight", None)
    return W if delta is None or getattr(layer, "merged", False) else W + delta().detach().double()


def singular_values(a: torch.Tensor) -> list[float]:
    """Largest first, to 6 significant digits (the stored file stays small; ranks are unaffected)."""
    return [float(f"{v:.6g}") for v in torch.linalg.svdvals(a).tolist()]


def state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes of every tensor the optimizer keeps (Adam's moments, GaLore's projectors, step counters)."""
    return sum(v.numel() * v.element_size() for state in opt.state.values() for v in state.values()
               if isinstance(v, torch.Tensor))


# ---------------------------------------------------------------- the experiment
def run_experiment(budget: Budget = Budget(), runs: tuple[RunSpec, ...] = RUNS) -> Experiment:
    """Every run of ``runs`` on one CPU thread (deterministic; ~30–50 s on a shared 2-core CPU)."""
    wall, cpu = time.perf_counter(), time.process_time()
    with one_thread():
        data = make_data(budget)
        results = [train_run(spec, budget, data) for spec in runs]
    return Experiment(budget, results, time.perf_counter() - wall, time.process_time() - cpu)


def cached_experiment(path: Path = ASSET) -> Experiment | None:
    """The stored experiment when it was made with today's budget and runs, else None."""
    if not path.is_file():
        return None
    exp = Experiment.from_json(path.read_text())
    same = exp.budget == Budget() and [(r.label, r.method) for r in exp.runs] == [(s.label, s.method) for s in RUNS]
    return exp if same else None


def experiment() -> Experiment:
    """The stored result when it matches the code's budget, else a fresh run."""
    return cached_experiment() or run_experiment()
