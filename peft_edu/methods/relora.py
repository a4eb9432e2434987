"""ReLoRA: High-Rank Training Through Low-Rank Updates (Lialin, Shivagunde, Muckatira and
Rumshisky, 2023, arXiv 2307.05695).

    h = W x + s · B A x                       LoRA of rank r, s = alpha / r, B starts at 0
    every K steps (a restart):
        W <- W + s · B A                      merge the low-rank update into W
        A <- Kaiming-uniform, B <- 0          a fresh LoRA (the model is unchanged)
        prune ~99 % of Adam's state of A, B   by magnitude (the smallest entries set to 0)
        restart the learning rate             a short linear warm-up back to the cosine curve
    after k restarts: W − W0 = Σ_i s · B_i A_i,   rank up to k · r

The rank of a sum is at most the sum of the ranks: "the rank of the sum of two matrices can be
higher than the rank of each" (§3), so a sequence of rank-r updates, each merged into W, can
train a high-rank change at LoRA's memory cost. Three parts make the restarts work (§3): the
partial optimizer reset (old moments would pull the fresh A, B back towards the merged
directions; the paper prunes 99 % of them by magnitude — here one mask per entry, from |m|,
removes both of its moments: an entry left with m but no v would take a step m/√v hundreds of
times the rate, which blew the tiny lesson model up), the "jagged" cosine schedule (a
warm-up of a few steps after every restart, then back onto the overall cosine decay), and a
short full-rank warm start before the first LoRA (left out here: the lab fine-tunes a
pretrained model; the pre-training experiment trains in full first where it wants one).

Defaults (the paper's setup, §4 and the authors' code): r = 128, alpha = 32, a restart every
K = 5000 steps, 99 % of the optimizer state pruned, 100 warm-up steps after each restart and
at the start, the cosine decaying to 10 % of the peak. Trainable per layer: r·(d_in + d_out),
as LoRA; only one rank-r pair exists at a time. On disk: merged weights (W + s·B A of every
adapted layer, SAVED_AS "merged"): peft has no ReLoRA, and W itself moved at every restart.

Training loop hooks (``peft_edu.methods`` protocol): ``after_optimizer_step`` restarts every
K steps, ``lr_schedule`` gives the jagged cosine. On ANY model: ``wrap_linears(model, cfg)``,
then ``restart(model, optimizer, cfg)`` every K steps and ``lr_schedule`` for the rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import base_weight, first_target, wrap_targets
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = True
SAVED_AS = "merged"  # peft has no ReLoRA, and W moved at each restart: a file holds W + s·B A


@dataclass(frozen=True)
class Config:
    r: int = 128  # rank of each low-rank update B A (paper: 128)
    alpha: float = 32.0  # the update is scaled by s = alpha / r (authors' code: 32)
    dropout: float = 0.0  # dropout on the input of the low-rank path
    reset_every: int = 5000  # K: optimizer steps between restarts (paper: 5000)
    prune: float = 0.99  # share of Adam's moments of A, B set to zero at a restart, by magnitude
    warmup: int = 100  # linear learning-rate warm-up steps at the start of the run
    restart_warmup: int = 100  # linear warm-up steps after every restart (the "jagged" part)
    min_lr_ratio: float = 0.1  # the cosine decays to this share of the peak rate

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("reset_every", "warmup", "restart_warmup"):
            value, low = getattr(self, name), 1 if name == "reset_every" else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.restart_warmup >= self.reset_every:
            raise ValueError(f"restart_warmup ({self.restart_warmup}) must be below reset_every ({self.reset_every})")
        if not 0.0 <= self.prune <= 1.0:
            raise ValueError(f"prune must be in [0, 1], got {self.prune}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


def layer_config(cfg: Config) -> lora.Config:
    return lora.Config(r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout)


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * (d_in + d_out)  # one LoRA pair at a time: A r·d_in, B d_out·r


class ReLoRALinear(LoRALinear):
    """A LoRA layer that can fold B A into W and start a fresh pair (``restart``)."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__(base, layer_config(cfg))
        self.restarts = 0  # how many times B A has been merged into W

    @torch.no_grad()
    def restart(self) -> None:
        """W <- W + s·B A; A <- Kaiming-uniform (as LoRA's start), B <- 0: the output is unchanged."""
        if self.merged:
            raise RuntimeError("unmerge the layer before a restart")
        W = base_weight(self.base)
        W += self.delta_weight().to(W.dtype)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B.zero_()
        self.restarts += 1


def inject(model: nn.Module, cfg: Config, arch) -> None:
    wrap_targets(model, arch.targets, lambda base: ReLoRALinear(base, cfg))


def wrap_linears(model: nn.Module, cfg: Config, names=None) -> list[str]:
    """For ANY model: wrap its nn.Linear layers (those in ``names``, default all) in ReLoRA
    layers, in place; only their A and B train then if the model was frozen first. Returns the names."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)] if names is None else list(names)
    wrap_targets(model, names, lambda base: ReLoRALinear(base, cfg))
    return names


def layers(model: nn.Module) -> list[ReLoRALinear]:
    return [m for m in model.modules() if isinstance(m, ReLoRALinear)]


@torch.no_grad()
def prune_by_magnitude(t: torch.Tensor, share: float) -> None:
    """Set the ``share`` of ``t``'s entries with the smallest |value| to zero, in place."""
    k = int(math.floor(share * t.numel()))
    if k <= 0:
        return
    if k >= t.numel():
        t.zero_()
        return
    threshold = t.abs().flatten().float().kthvalue(k).values  # the k-th smallest magnitude
    t.mul_((t.abs().float() > threshold).to(t.dtype))


@torch.no_grad()
def prune_state(state: dict, share: float) -> None:
    """Prune one parameter's Adam state: the ``share`` of entries with the smallest first moment
    |m| lose both moments, m and v (one mask for the pair: an entry that kept m but lost v
    would take a step m / √v of hundreds of times the rate on the next update)."""
    if "exp_avg" not in state:
        return
    m = state["exp_avg"]
    before = m.abs()
    prune_by_magnitude(m, share)
    if "exp_avg_sq" in state:
        state["exp_avg_sq"].mul_((m != 0) | (before == 0))


@torch.no_grad()
def restart(model: nn.Module, optimizer: torch.optim.Optimizer | None, cfg: Config) -> None:
    """One ReLoRA restart of every layer: merge, re-initialise, prune the optimizer state of A, B."""
    for layer in layers(model):
        layer.restart()
        for p in (layer.A, layer.B):
            if optimizer is not None and p in optimizer.state:
                prune_state(optimizer.state[p], cfg.prune)


def after_optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, step: int, cfg: Config) -> None:
    """Protocol hook: after every K-th optimizer step (step = steps taken), restart."""
    if step % cfg.reset_every == 0:
        restart(model, optimizer, cfg)


def lr_schedule(step: int, steps: int, cfg: Config) -> float:
    """The jagged cosine: the factor on the peak rate for the step taken after ``step`` steps.

    A linear warm-up over ``warmup`` steps, then a cosine from 1 to ``min_lr_ratio`` over the
    rest of the run; for ``restart_warmup`` steps after every restart the cosine's value is
    multiplied by a linear ramp from 0 (as the authors' scheduler)."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, steps - cfg.warmup)
    cosine = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    since = step % cfg.reset_every  # steps since the latest restart
    if step >= cfg.reset_every and since < cfg.restart_warmup:
        return cosine * (since + 1) / (cfg.restart_warmup + 1)
    return cosine


def zero_delta(layer: ReLoRALinear) -> None:
    """B = 0: W, loaded from a merged file, is the whole layer."""
    with torch.no_grad():
        layer.B.zero_()


# The lab (all-MiniLM-L6-v2, query and value, batch 16, r = 8, alpha = 16 as LoRA's lab run),
# measured on the shared 2-core CPU (21 s CPU per run): a restart every 50 steps (one restart
# in the run), lr 2e-3: 98.75 % test accuracy at step 100 (97.5 % at 50); a restart every 25
# steps: 97.1 % (73.8 % at 50). Before the moments of an entry were pruned together (see
# prune_state), K = 25 fell from 97.9 % to 59.6 % after its third restart; lr 1e-3 stayed near
# chance (53.8 %) within 100 steps.
# Model dropout off (stop 25), load ~1.8: 90 % by step 35-45, 98.8-99.2 % at step 90 (seeds 0-2),
# 12.1-12.7 s wall; 100 steps had taken 15.8 s.
# Measured at stop 26 (`train(defaults(...))`, seeds 0-2, model dropout off, load 1.3-2.3):
# 80 steps (one restart, at 50) reach 90 % by step 35-45, 99.2 % at the end, 13.8-14.3 s wall; 90 steps
# had taken 15.9 s in bench_lab.py --all.
# Stop 27 (same measurement, load 1.8): 80 steps took 15.0 s in bench_lab.py --all; 70 steps (one
# restart, at 50) reach 90 % after 5.1-7.6 s and 98.8-99.2 % at the end, 10.9-11.6 s wall.
LAB = LabDefaults(lr=2e-3, steps=70, config=Config(r=8, alpha=16.0, reset_every=50, warmup=5, restart_warmup=5))
K_LESSON = 25  # the page run: 80 steps, restarts after 25, 50 and 75 (the paper's K is 5000)
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=2, alpha=2.0, reset_every=K_LESSON, warmup=2, restart_warmup=2),
                        note=f"ReLoRA merges B·A into W and restarts A, B every K = {K_LESSON} steps: "
                             "W − W₀ gains up to r ranks per restart.", race_lr=0.03)


# ---------------------------------------------------------------- the method page
def watch(model: nn.Module) -> list[Watched]:
    """W (moves at each restart), B, A, the current s·B·A and the total change W + s·B·A − W0."""
    layer = first_target(model)
    W = base_weight(layer.base)
    W0 = W.detach().clone()  # W at the start of the run
    return [Watched("W", "W (merged at each restart)", "moving", "d_out", "d_in", lambda: W),
            Watched("B", "B (0 after a restart)", "trainable", "d_out", "r", lambda: layer.B),
            Watched("A", "A (new after a restart)", "trainable", "r", "d_in", lambda: layer.A),
            Watched("dW", "s·B·A = delta_weight()", "delta", "d_out", "d_in", layer.delta_weight),
            Watched("total", "total change W + s·B·A − W₀", "delta", "d_out", "d_in",
                    lambda: W + layer.delta_weight() - W0)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA's tensors: a restart changes weights between steps, nothing more is kept."""
    return lora.activation_profile(shape, layer_config(cfg), targets)
