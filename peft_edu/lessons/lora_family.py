"""Lessons of the LoRA variants, each from real runs of peft_edu's layers on the toy task.

- LoRA-FA (arXiv 2308.03303): A keeps its random init while B moves.
- VeRA (arXiv 2310.11454): one random pair A, B serves every layer; only b and d train.
- Delta-LoRA (arXiv 2309.02411): W moves from step K on, without a gradient; λ scales it.
- LoRA+ (arXiv 2402.12354): B's learning rate = ratio × A's.
- DoRA (arXiv 2402.09353): magnitude and direction of W's rows, vs LoRA and full.

Every result is plain data (numpy, floats) so Streamlit can cache it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

import peft_edu
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.lora import numerical_rank, singular_values
from peft_edu.lessons.lowrank import available, matrix_run
from peft_edu.registry import get_method
from peft_edu.lessons.toy import ADAPTED, ToyTask, make_toy
from peft_edu.lessons.train import adam, fit, mse_on
from peft_edu.models import toy_mlp

TOY = ToyTask()


# ---------------------------------------------------------------- LoRA-FA
@dataclass(frozen=True)
class FrozenA:
    """LoRA-FA next to LoRA on the toy layer: how far A and B move, and the loss."""

    r: int
    steps: list[int]  # snapshot steps
    a_moved_fa: list[float]  # ‖A_t − A_0‖_F of LoRA-FA at each snapshot (stays 0)
    b_moved_fa: list[float]  # ‖B_t − B_0‖_F of LoRA-FA
    a_moved_lora: list[float]  # the same for plain LoRA: A moves too
    b_moved_lora: list[float]
    loss_fa: list[float]  # loss per step
    loss_lora: list[float]
    trainable_fa: int  # trainable parameters of the adapted layer
    trainable_lora: int


def _moved(run: Run, name: str) -> list[float]:
    first = run.first(name)
    return [float(np.linalg.norm(f[name] - first)) for f in run.frames]


def frozen_a(r: int = 4) -> FrozenA:
    """Train LoRA-FA and LoRA (same seed, same A at init) and track both factors."""
    fa, lora = matrix_run("lora_fa", r), matrix_run("lora", r)
    count = {m: peft_edu.layer_params(m, TOY.d_hidden, TOY.d_in, r=r) for m in ("lora_fa", "lora")}
    return FrozenA(r, list(fa.steps), _moved(fa, "A"), _moved(fa, "B"), _moved(lora, "A"),
                   _moved(lora, "B"), fa.loss, lora.loss, count["lora_fa"], count["lora"])


# ---------------------------------------------------------------- VeRA
@dataclass(frozen=True)
class VeraSharing:
    """VeRA on a 3-layer toy MLP: what is shared, what trains, and the trained vectors."""

    r: int
    layers: list[str]  # adapted layers
    same_pair: bool  # every layer's A, B come from the one ``model.vera_shared``
    same_storage: bool  # every layer's A and B are views of the same memory
    buffers: list[tuple[str, tuple[int, ...]]]  # (name, shape) of the model's buffers
    parameters: list[tuple[str, tuple[int, ...]]]  # (name, shape) of trainable parameters
    A: np.ndarray  # shared (r, d_in), frozen
    B: np.ndarray  # shared (d_out, r), frozen
    d: dict[str, np.ndarray]  # layer -> trained d (r,)
    b: dict[str, np.ndarray]  # layer -> trained b (d_out,)
    loss: list[float]
    trainable: int  # VeRA's trainable parameters (all layers)
    lora_trainable: int  # LoRA's at the same r on the same layers


WIDTH, DEPTH = 16, 3  # the stacked toy: 16 -> 16 -> 16 -> 16 -> 8


def stacked_problem(seed: int = 0):
    """A 3-hidden-layer toy MLP and a target whose every hidden layer is shifted."""
    base = toy_mlp(WIDTH, *([WIDTH] * DEPTH), 8, seed=seed)
    target = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in target.layers:
            layer.weight += 0.5 * torch.randn(layer.weight.shape, generator=gen) / WIDTH ** 0.5
        x = torch.randn(256, WIDTH, generator=gen)
        y = target(x)
    return base, x, y


def vera_sharing(r: int = 8, steps: int = 80, lr: float = 0.05) -> VeraSharing:
    """Apply VeRA to every hidden layer, check the sharing, train b and d."""
    with one_thread():
        base, x, y = stacked_problem()
        lora_count = peft_edu.trainable_parameters(peft_edu.apply(copy.deepcopy(base), "lora", r=r,
                                                                    train_head=False))
        model = peft_edu.apply(base, "vera", r=r, train_head=False)  # the target changed the hidden layers only
        names = list(model.peft_edu_applied.arch.targets)
        layers = [model.get_submodule(n) for n in names]
        shared = model.vera_shared
        run = fit(Run("vera", ()), model, mse_on(x, y), steps, adam(model, lr))
    return VeraSharing(
        r=r, layers=names,
        same_pair=all(layer._shared[0] is shared for layer in layers),
        same_storage=all(layer.A.data_ptr() == shared.vera_A.data_ptr()
                         and layer.B.data_ptr() == shared.vera_B.data_ptr() for layer in layers),
        buffers=[(n, tuple(t.shape)) for n, t in model.named_buffers()],
        parameters=[(n, tuple(p.shape)) for n, p in model.named_parameters() if p.requires_grad],
        A=shared.vera_A.numpy().copy(), B=shared.vera_B.numpy().copy(),
        d={n: layer.d.detach().numpy().copy() for n, layer in zip(names, layers)},
        b={n: layer.b.detach().numpy().copy() for n, layer in zip(names, layers)},
        loss=run.loss, trainable=peft_edu.trainable_parameters(model), lora_trainable=lora_count)


# ---------------------------------------------------------------- Delta-LoRA
@dataclass(frozen=True)
class DeltaRun:
    """One Delta-LoRA run: how far W moved (no gradient) and the loss."""

    lam: float  # λ
    start: int  # K
    r: int
    steps: list[int]  # every step 0..n
    w_moved: list[float]  # ‖W_t − W_0‖_F
    loss: list[float]
    moved_rank: int  # numerical rank of W_T − W_0 (telescopes to λ s (B_T A_T − B_K A_K): ≤ 2r)
    total_rank: int  # numerical rank of the whole update W_T + s B_T A_T − W_0
    lora_rank: int  # numerical rank of s B_T A_T alone (≤ r)


def delta_run(lam: float, r: int = 2, start: int = 20, steps: int = 80) -> DeltaRun:
    """Delta-LoRA on the toy layer with every step recorded."""
    run = matrix_run("delta_lora", r, steps=steps, n_frames=steps + 1, lam=float(lam), start_step=start)
    moved = [f["W_moved"] for f in run.frames]
    total = run.last("W_moved") + run.last("dW")
    return DeltaRun(
        float(lam), start, r, list(run.steps), [float(np.linalg.norm(m)) for m in moved], run.loss,
        numerical_rank(singular_values(run.last("W_moved"))), numerical_rank(singular_values(total)),
        numerical_rank(singular_values(run.last("dW"))))


def delta_lambdas(lams: tuple[float, ...] = (0.0, 0.5, 2.0), r: int = 2, start: int = 20,
                  steps: int = 80) -> list[DeltaRun]:
    """The same run at several λ (λ = 0 is plain LoRA: W never moves)."""
    return [delta_run(lam, r, start, steps) for lam in lams]


# ---------------------------------------------------------------- LoRA+
LR_PLUS = 0.002  # A's learning rate in the LoRA+ lesson: low, so ratio 1 is visibly slow


def ratio_curve(ratio: float, r: int = 4, lr: float = LR_PLUS, steps: int = 80) -> list[float]:
    """Loss per step of LoRA+ with lr(A) = lr and lr(B) = ratio × lr."""
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    return matrix_run("lora_plus", r, lr=lr, steps=steps, n_frames=2, ratio=float(ratio)).loss


# ---------------------------------------------------------------- rsLoRA
SCALING_RANKS = (1, 4, 16, 64)  # the rsLoRA lesson's ranks (the toy layer is 32 × 16)
EARLY_STEP = 10  # where the lesson reads the update's size: before the runs converge


@dataclass(frozen=True)
class ScalingRun:
    """LoRA (alpha / r) or rsLoRA (alpha / sqrt r) at one rank, same alpha and learning rate."""

    method: str  # "lora" or "rslora" (registry keys)
    r: int
    update_norm: float  # ‖ΔW‖_F after EARLY_STEP steps
    loss: list[float]  # loss per step


def rank_scaling(methods: tuple[str, ...] = ("lora", "rslora"), ranks: tuple[int, ...] = SCALING_RANKS,
                 alpha: float = 8.0, lr: float = 0.002, steps: int = 40) -> list[ScalingRun]:
    """Both scalings at every rank with one alpha and one learning rate (rsLoRA §3, Fig. 1):
    the size of the update after EARLY_STEP steps, and how fast the loss falls."""
    runs = []
    for method in methods:
        for r in ranks:
            run = matrix_run(method, r, lr=lr, steps=steps, n_frames=steps // EARLY_STEP + 1, alpha=float(alpha))
            early = run.frames[run.steps.index(EARLY_STEP)]["dW"]
            runs.append(ScalingRun(method, r, float(np.linalg.norm(early)), run.loss))
    return runs


# ---------------------------------------------------------------- DoRA
@dataclass(frozen=True)
class MagDir:
    """Magnitude and direction of the adapted weight's rows through one run (DoRA §2, Fig. 2)."""

    method: str
    steps: list[int]
    d_mag: list[float]  # mean over rows of |‖W_t,row‖ − ‖W0,row‖| / ‖W0,row‖
    d_dir: list[float]  # mean over rows of 1 − cos(W_t,row, W0,row)
    mag_change: np.ndarray  # (d_out,) final ‖W_T,row‖ − ‖W0,row‖
    dir_change: np.ndarray  # (d_out,) final 1 − cos(W_T,row, W0,row)
    loss: list[float]


def row_changes(W0: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (‖W_row‖ − ‖W0_row‖, 1 − cos(W_row, W0_row))."""
    n0, n = np.linalg.norm(W0, axis=1), np.linalg.norm(W, axis=1)
    cos = (W0 * W).sum(axis=1) / (n0 * n)
    return n - n0, 1.0 - cos


def magnitude_direction(method: str, r: int = 4) -> MagDir:
    """Run ``method`` (a toy-layer method, e.g. full, LoRA, DoRA) on the toy layer; rows'
    magnitude and direction."""
    if not available(method):
        raise ValueError(f"{method!r} has no run on the toy layer")
    run = matrix_run(method, r if get_method(method).size_knob else None)
    W0 = make_toy(TOY).base.get_submodule(ADAPTED).weight.detach().numpy().astype(np.float64)
    d_mag, d_dir = [], []
    for frame in run.frames:
        mag, direction = row_changes(W0, W0 + frame["dW"])
        d_mag.append(float(np.mean(np.abs(mag) / np.linalg.norm(W0, axis=1))))
        d_dir.append(float(np.mean(direction)))
    mag, direction = row_changes(W0, W0 + run.last("dW"))
    return MagDir(method, list(run.steps), d_mag, d_dir, mag, direction, run.loss)


ALL_TARGETS = ("q", "k", "v", "o", "mlp")  # LoRA-FA's paper adapts every linear layer
COMPARED_ACTIVATIONS = ("full", "lora", "lora_fa")  # the LoRA-FA lesson's bars, left to right


def activation_comparison(model: str = "Llama-2-7B", r: int = 8, batch: int = 8, seq: int = 512
                          ) -> dict[str, float]:
    """Activation bytes of one batch (16-bit), by method key, for full, LoRA and LoRA-FA on every linear layer
    (``peft_edu.sizing.activations``: LoRA keeps each adapted layer's input x for A's gradient;
    LoRA-FA keeps only the r-dimensional A·x for B's)."""
    from peft_edu.methods import protocol
    from peft_edu.sizing.activations import ActivationSetup, activation_bytes, activation_profile
    from peft_edu.lessons.costs import model_shape

    shape, setup = model_shape(model), ActivationSetup(batch, seq)
    out = {}
    for method in COMPARED_ACTIVATIONS:
        rank = {"r": r} if protocol(method).uses_targets else {}  # full fine-tuning has no rank
        profile = activation_profile(method, shape, targets=ALL_TARGETS, **rank)
        out[method] = activation_bytes(shape, profile, setup, 2)
    return out


# ---------------------------------------------------------------- DoRA, the paper's Fig. 2 on a real model
MAGDIR_STEPS, MAGDIR_EVERY = 60, 10  # Adam steps of each run, and the checkpoints' spacing


@dataclass(frozen=True)
class MagDirScatter:
    """DoRA §2's analysis on the tiny BERT: for every linear layer of the encoder and every
    checkpoint, the mean direction change ΔD and mean magnitude change ΔM of the rows of its
    (merged) weight against the pretrained one."""

    method: str
    points: tuple[tuple[str, int, float, float], ...]  # (layer, step, ΔD, ΔM)
    slope: float  # least-squares slope of ΔM against ΔD over all points
    loss: float  # the task loss at the end


def encoder_linears(model) -> list[str]:
    """The encoder's linear layers (attention q, k, v, output; feed-forward in, out) by name."""
    return [n for n, m in model.bert.named_modules() if isinstance(m, torch.nn.Linear) and ".layer." in n]


def merged_weights(model, names: list[str]) -> dict[str, np.ndarray]:
    """Each layer's weight as the model computes with it (a copy with every adapter merged)."""
    m = copy.deepcopy(model)
    if hasattr(m, "peft_edu_applied"):
        peft_edu.merge(m)
    out = {}
    for name in names:
        layer = m.bert.get_submodule(name)
        out[name] = getattr(layer, "base", layer).weight.detach().double().numpy()
    return out


def magdir_scatter(method: str, r: int = 4) -> MagDirScatter:
    """Adapt the pretrained tiny BERT to task B with ``method`` on every encoder linear layer
    (LoRA and DoRA at rank r); ΔD and ΔM (the paper's definitions: mean over rows of
    1 − cos(W_t, W_0) and of |‖W_t‖ − ‖W_0‖|) of each layer at every checkpoint."""
    from peft_edu.lessons.compare import own_lr
    from peft_edu.lessons.transformer import TASK_B, pretrained, task_batch
    from peft_edu.methods import protocol

    options = {"targets": "all-linear"} if protocol(method).uses_targets else {}
    knob = get_method(method).size_knob
    if knob:
        options[knob] = r
    ids, labels = task_batch(TASK_B, seed=1)
    with one_thread():
        torch.manual_seed(0)
        base = pretrained()
        names = encoder_linears(base)
        W0 = merged_weights(base, names)
        model = peft_edu.apply(base, method, train_head=True, **options)
        # each method at its own rate, measured on this task for the Compare race (LESSON.race_lr)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=own_lr(method))
        points = []
        for step in range(1, MAGDIR_STEPS + 1):
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % MAGDIR_EVERY == 0:
                for name, W in merged_weights(model, names).items():
                    mag, direction = row_changes(W0[name], W)
                    points.append((name, step, float(np.mean(direction)), float(np.mean(np.abs(mag)))))
    x, y = np.array([p[2] for p in points]), np.array([p[3] for p in points])
    slope = float(np.polyfit(x, y, 1)[0])
    return MagDirScatter(method, tuple(points), slope, float(loss.detach()))
