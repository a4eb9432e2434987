"""Delta-LoRA: Fine-Tuning High-Rank Parameters with the Delta of Low-Rank Matrices
(Zi et al., 2023, arXiv 2309.02411).

    h = W x + (alpha / r) · B A x                 A, B trained by the optimizer
    W <- W + lambda · (alpha / r) · (B_{t+1} A_{t+1} - B_t A_t)     after step t, for t >= K

W never receives a gradient or optimizer state: after every optimizer step it moves by
the change of the low-rank product (§3, Algorithm 1), so the total update of W can reach
a rank above r at LoRA's memory cost. Dropout is removed from the low-rank path, since it
would break the identity between the gradients of W and of A B that the update relies on
(§3). The paper uses lambda = 2 and K = 500.
Trainable per layer: r · (d_in + d_out), like LoRA.

Training loop: call ``after_step(model)`` right after every ``optimizer.step()``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import base_weight, first_target, wrap_targets
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = True
SAVED_AS = "merged"  # peft has no Delta-LoRA, and W itself moved: a file holds W + ΔW per layer


@dataclass(frozen=True)
class Config:
    r: int = 8  # rank of B A
    alpha: float = 8.0  # the low-rank path is scaled by alpha / r
    lam: float = 2.0  # update ratio lambda (paper: 2)
    start_step: int = 500  # K: W starts moving after optimizer step K (0-based; paper: 500)
    use_rslora: bool = False  # alpha / sqrt(r) instead of alpha / r

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not isinstance(self.start_step, int) or self.start_step < 0:
            raise ValueError(f"start_step must be an integer >= 0, got {self.start_step!r}")


# The lab's runs are 70 steps, not the paper's thousands: W starts moving after K = 20.
# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 97.9 % at
# step 40, 96-100 % after.
LAB = LabDefaults(lr=2e-3, steps=70, config=Config(r=8, alpha=16.0, lam=2.0, start_step=20))


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * (d_in + d_out)  # W moves, but without gradients: not a trainable parameter


class DeltaLoRALinear(LoRALinear):
    """A LoRA layer (no dropout) that also moves its frozen W after every optimizer step."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__(base, lora.Config(r=cfg.r, alpha=cfg.alpha, dropout=0.0,
                                           use_rslora=cfg.use_rslora))
        self.lam = cfg.lam
        self.start_step = cfg.start_step
        self.t = 0  # optimizer steps seen so far
        # A_t and B_t: the factors before the latest step (small: r·(d_in + d_out) numbers)
        self.register_buffer("A_prev", self.A.detach().clone(), persistent=False)
        self.register_buffer("B_prev", self.B.detach().clone(), persistent=False)

    @torch.no_grad()
    def after_step(self) -> None:
        """W <- W + lambda (alpha/r) (B_{t+1} A_{t+1} - B_t A_t) once t >= K; then remember A, B."""
        if self.t >= self.start_step:
            delta = self.B @ self.A - self.B_prev @ self.A_prev  # (d_out, d_in)
            W = base_weight(self.base)
            W += (self.lam * self.scaling * delta).to(W.dtype)
        self.A_prev.copy_(self.A)
        self.B_prev.copy_(self.B)
        self.t += 1


def inject(model: nn.Module, cfg: Config, arch) -> None:
    wrap_targets(model, arch.targets, lambda base: DeltaLoRALinear(base, cfg))


def after_step(model: nn.Module) -> None:
    """Call after every ``optimizer.step()``: moves W of every Delta-LoRA layer."""
    for layer in model.modules():
        if isinstance(layer, DeltaLoRALinear):
            layer.after_step()


def zero_delta(layer: DeltaLoRALinear) -> None:
    """B A = 0, now and before the last step: W, loaded from a merged file, is the whole layer."""
    with torch.no_grad():
        layer.B.zero_()
        layer.B_prev.zero_()


# ---------------------------------------------------------------- the method page
K_LESSON = 20  # the page run has 80 steps, not the paper's thousands: W starts moving at step 20
# Compare race: Adam lr 0.01, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0, start_step=K_LESSON),
                        note=f"Delta-LoRA moves W by λ·Δ(BA) after every step from K = {K_LESSON} on "
                             "(λ = 2), although W gets no gradient.", race_lr=0.01)


def watch(model: nn.Module) -> list[Watched]:
    """W (it moves without a gradient), B, A, the low-rank path and how far W has moved."""
    layer = first_target(model)
    W = base_weight(layer.base)
    W0 = W.detach().clone()  # W at the start of the run
    return [Watched("W", "W (no gradient)", "moving", "d_out", "d_in", lambda: W),
            Watched("B", "B", "trainable", "d_out", "r", lambda: layer.B),
            Watched("A", "A", "trainable", "r", "d_in", lambda: layer.A),
            Watched("dW", "(α/r)·B·A", "delta", "d_out", "d_in", layer.delta_weight),
            Watched("W_moved", "W − W₀ (moved by λ·Δ(BA))", "moving", "d_out", "d_in", lambda: W - W0)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA's tensors: W's update after the step reads B and A, nothing saved by autograd."""
    return lora.activation_profile(shape, cfg, targets)
