"""LoKr: low-rank adaptation with a Kronecker product (Yeh et al., 2023, "Navigating
Text-To-Image Customization: From LyCORIS Fine-Tuning to Model Evaluation", arXiv 2309.14859).

    ΔW = (alpha / r) · C ⊗ D                        (d_out, d_in)
    C: (u1, v1),  D: (u2, v2),  u1·u2 = d_out,  v1·v2 = d_in
    D = D_a D_b  (D_a: (u2, r), D_b: (r, v2))      when D is large for the rank r
    h = W0 x + ΔW x

The paper's idea: instead of a thin product B A, write the update as the Kronecker product
of two small matrices. Every entry of C scales a whole copy of D, so u1·v1 + u2·v2 numbers
span a d_out × d_in matrix, and because ranks multiply, rank(C ⊗ D) = rank C · rank D, the
update is not capped at r the way LoRA's is: C of full rank 16 and D of rank 8 give a
change of rank 128. The second factor may itself be low-rank (D = D_a D_b), which is how
LoKr gets far below LoRA's count at the same ΔW shape. The paper shows the method in the
LyCORIS library; the layout below is the one Hugging Face peft 0.21 took from that code,
and this module matches it exactly:

- Factor sizes: ``factorization(d)`` splits d = m · n with m <= n as close to √d as the
  divisors allow (``decompose_factor`` = f > 0 dividing d gives (f, d / f); an f that does
  not divide d caps m at f). d_out = u1·u2 and d_in = v1·v2 take the small parts for C and
  the large parts for D: C is (u1, v1) = (small of d_out, small of d_in).
- When a factor is low-rank: D = D_a D_b when r < max(u2, v2) / 2, else D is full
  (u2 × v2); C stays full unless ``decompose_both`` and r < max(u1, v1) / 2.
- Scaling alpha / r always, even when both factors are full (then r only sets the scale).
- Start: peft's default (``init = "peft"``) sets C = 0 (C_a = 0 when decomposed) and D
  Kaiming-uniform, so ΔW = 0 at step 0; LyCORIS's way (``"lycoris"``) zeroes D (D_b)
  instead; ``"random"`` (peft's ``init_weights=False``) starts every factor random.
- ``rank_dropout``: in training each output row of ΔW is dropped with that probability
  (``rank_dropout_scale``: the kept rows rescaled by 1 / their share); ``module_dropout``:
  in training the whole update is skipped with that probability.
- Forward as peft: ΔW is built (``torch.kron``) and applied as one matrix, so training
  keeps the layer's input x for the gradient (and one d_out × d_in matrix per layer, not
  per token). The same product without building ΔW: x reshaped to X (v1, v2) gives
  ΔW x = vec(C X Dᵀ) (times alpha / r), the Kronecker identity the lesson shows.

Trainable per layer: (u1·v1 or r·(u1 + v1)) + (u2·v2 or r·(u2 + v2)). peft's tensor names
are kept as the parameter names: ``lokr_w1`` = C (or ``lokr_w1_a``, ``lokr_w1_b``),
``lokr_w2`` = D (or ``lokr_w2_a`` = D_a, ``lokr_w2_b`` = D_b); the unused ones are None.
Where this module differs from the paper's own code it follows peft (the paper prints no
defaults; these are peft's): r = 8, alpha = 8, f = −1, no decompose_both, no dropout.
On disk: peft's LOKR. peft 0.21's LoKr wraps nn.Linear (and convolutions) only, not
GPT-2's Conv1D: a GPT-2 LoKr trains here but cannot be saved in peft's format.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import base_weight, factory_kwargs, first_target, linear_shape, wrap_targets
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
COUNT_AFFINE = False  # D (or C) turns from D_a D_b to a full matrix once r reaches half its larger side
FACTORS = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b")  # peft's names, ours too
PEFT_NAMES = {name: name for name in FACTORS}  # each layer holds C's and D's, full or low-rank
INITS = ("peft", "lycoris", "random")


@dataclass(frozen=True)
class Config:
    r: int = 8  # rank of a low-rank factor (D = D_a D_b); the update is scaled by alpha / r (peft 8)
    alpha: float = 8.0  # scaling constant of alpha / r (peft's alpha, default 8)
    decompose_factor: int = -1  # f: C's side near f (−1: both factors near √d), peft's decompose_factor
    decompose_both: bool = False  # C low-rank too (C_a C_b) when r < max(u1, v1) / 2
    rank_dropout: float = 0.0  # training: probability of dropping each output row of ΔW
    rank_dropout_scale: bool = False  # rescale the kept rows of ΔW by 1 / their share
    module_dropout: float = 0.0  # training: probability of skipping the whole update for a step
    init: str = "peft"  # "peft": C = 0; "lycoris": D (or D_b) = 0; "random": no factor zero

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if self.decompose_factor != -1 and self.decompose_factor < 1:
            raise ValueError(f"decompose_factor must be -1 (near the square root) or >= 1, got "
                             f"{self.decompose_factor}")
        for name in ("rank_dropout", "module_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")


def factorization(dim: int, factor: int = -1) -> tuple[int, int]:
    """(m, n) with m · n = dim, as peft (and LyCORIS) split a dimension.

    A factor f > 0 that divides dim gives (f, dim / f) as it is. Otherwise m steps up
    through the divisors of dim while it is below its cofactor n = dim / m, and stops
    before a divisor above f (f = −1: no cap), so m ends at the divisor pair nearest √d;
    the smaller of the two comes first. 24 -> (4, 6), 4096 -> (64, 64), 127 -> (1, 127)."""
    if factor > 0 and dim % factor == 0:
        return factor, dim // factor
    cap = dim if factor == -1 else factor
    m = 1
    while m < dim // m:
        step = next(k for k in range(m + 1, dim + 1) if dim % k == 0)  # the next divisor
        if step > cap:
            break
        m = step
    n = dim // m
    return (m, n) if m <= n else (n, m)


@dataclass(frozen=True)
class Shapes:
    """The Kronecker layout of one (d_out, d_in) layer."""

    u1: int  # rows of C (d_out = u1 · u2)
    v1: int  # columns of C (d_in = v1 · v2)
    u2: int  # rows of D
    v2: int  # columns of D
    low_rank_c: bool  # C = C_a C_b (rank r) instead of a full u1 × v1 matrix
    low_rank_d: bool  # D = D_a D_b (rank r) instead of a full u2 × v2 matrix


def shapes(d_out: int, d_in: int, cfg: Config) -> Shapes:
    """Factor sizes and which factor is low-rank, by peft's rule (see the module docstring)."""
    u1, u2 = factorization(d_out, cfg.decompose_factor)
    v1, v2 = factorization(d_in, cfg.decompose_factor)
    low_c = cfg.decompose_both and cfg.r < max(u1, v1) / 2
    low_d = cfg.r < max(u2, v2) / 2
    return Shapes(u1, v1, u2, v2, low_c, low_d)


def factor_params(rows: int, cols: int, r: int, low_rank: bool) -> int:
    return r * (rows + cols) if low_rank else rows * cols


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    s = shapes(d_out, d_in, cfg)
    return factor_params(s.u1, s.v1, cfg.r, s.low_rank_c) + factor_params(s.u2, s.v2, cfg.r, s.low_rank_d)


def max_rank(d_out: int, d_in: int, cfg: Config) -> int:
    """The highest rank ΔW = C ⊗ D can reach: rank C · rank D, each capped by its shape and r."""
    s = shapes(d_out, d_in, cfg)
    rank_c = min(s.u1, s.v1, cfg.r) if s.low_rank_c else min(s.u1, s.v1)
    rank_d = min(s.u2, s.v2, cfg.r) if s.low_rank_d else min(s.u2, s.v2)
    return rank_c * rank_d


class LoKrLinear(nn.Module):
    """Wraps a frozen linear layer ``base`` (W0) and adds (alpha / r) · (C ⊗ D) x."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__()
        self.base = base  # frozen W0: nn.Linear or GPT-2's Conv1D (stores W0ᵀ)
        self.d_out, self.d_in = linear_shape(base)
        self.r = cfg.r
        self.scaling = cfg.alpha / cfg.r  # peft scales by alpha / r whatever the factors' form
        self.shapes = s = shapes(self.d_out, self.d_in, cfg)
        self.rank_dropout, self.rank_dropout_scale = cfg.rank_dropout, cfg.rank_dropout_scale
        self.module_dropout = cfg.module_dropout
        like = factory_kwargs(base)
        for name in FACTORS:  # all six names exist; the form not used is None (as a missing bias)
            self.register_parameter(name, None)
        if s.low_rank_c:
            self.lokr_w1_a = nn.Parameter(torch.empty(s.u1, cfg.r, **like))  # C_a (u1, r)
            self.lokr_w1_b = nn.Parameter(torch.empty(cfg.r, s.v1, **like))  # C_b (r, v1)
        else:
            self.lokr_w1 = nn.Parameter(torch.empty(s.u1, s.v1, **like))  # C (u1, v1)
        if s.low_rank_d:
            self.lokr_w2_a = nn.Parameter(torch.empty(s.u2, cfg.r, **like))  # D_a (u2, r)
            self.lokr_w2_b = nn.Parameter(torch.empty(cfg.r, s.v2, **like))  # D_b (r, v2)
        else:
            self.lokr_w2 = nn.Parameter(torch.empty(s.u2, s.v2, **like))  # D (u2, v2)
        self.reset(cfg.init)
        self.merged = False

    @torch.no_grad()
    def reset(self, init: str) -> None:
        """Start values. "peft": C (C_a) zero, the rest Kaiming-uniform, so ΔW = 0;
        "lycoris": D (D_b) zero instead; "random": every factor Kaiming-uniform."""
        zero = {"peft": ("lokr_w1", "lokr_w1_a"), "lycoris": ("lokr_w2", "lokr_w2_b"), "random": ()}[init]
        for name in FACTORS:  # C's tensors first, then D's, as peft
            p = getattr(self, name)
            if p is None:
                continue
            if name in zero:
                nn.init.zeros_(p)
            else:
                nn.init.kaiming_uniform_(p, a=math.sqrt(5))

    def C(self) -> torch.Tensor:
        """The left factor (u1, v1): lokr_w1, or lokr_w1_a @ lokr_w1_b."""
        return self.lokr_w1 if self.lokr_w1 is not None else self.lokr_w1_a @ self.lokr_w1_b

    def D(self) -> torch.Tensor:
        """The right factor (u2, v2): lokr_w2, or lokr_w2_a @ lokr_w2_b."""
        return self.lokr_w2 if self.lokr_w2 is not None else self.lokr_w2_a @ self.lokr_w2_b

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha / r) · C ⊗ D, shape (d_out, d_in): entry (i1·u2 + i2, j1·v2 + j2) is
        C[i1, j1] · D[i2, j2]. The one truth for merge and tests."""
        return torch.kron(self.C(), self.D()) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # (..., d_out)
        if self.merged:
            return h
        if self.training and not torch.rand(1) > self.module_dropout:  # drawn every step, as peft
            return h  # module dropout: this step trains without the update
        dW = self.delta_weight()  # (d_out, d_in)
        if self.training and self.rank_dropout:
            keep = (torch.rand(dW.shape[0]) > self.rank_dropout).float()  # (d_out,): rows kept
            if self.rank_dropout_scale:
                keep /= keep.mean()
            dW = dW * keep.to(dW.device)[:, None]
        return h + F.linear(x.to(dW.dtype), dW).to(h.dtype)

    merge = lora.LoRALinear.merge  # W0 <- W0 + ΔW, the same code as LoRA's
    unmerge = lora.LoRALinear.unmerge

    def extra_repr(self) -> str:
        s = self.shapes
        c = f"C=C_a C_b ({s.u1}×{self.r}·{self.r}×{s.v1})" if s.low_rank_c else f"C ({s.u1}×{s.v1})"
        d = f"D=D_a D_b ({s.u2}×{self.r}·{self.r}×{s.v2})" if s.low_rank_d else f"D ({s.u2}×{s.v2})"
        return f"d_in={self.d_in}, d_out={self.d_out}, {c} ⊗ {d}, scaling={self.scaling:g}"


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every layer named in ``arch.targets`` in a ``LoKrLinear``."""
    wrap_targets(model, arch.targets, lambda base: LoKrLinear(base, cfg))


# The lab (all-MiniLM-L6-v2, query and value, batch 16): 384 = 16 · 24, so C is 16 × 16 and D
# = D_a D_b (24 × 8 · 8 × 24): 640 numbers per layer, 7,680 in all (LoRA r = 8: 73,728). Measured
# with the lab's train() at load average 7-10 on the shared 2-core CPU: lr 1e-2 reached 98.3 % test
# accuracy at step 100 (94.6 % at step 75), 60 s wall, 21 s CPU; lr 5e-3 96.2 % (57 % at step 75);
# lr 2e-2 passed 95 % by step 50 but ended at 94.6 %.
# 80 steps (94.6 % at 75 above) keep the default run under 15 s at ~1.3 LoRA steps per step.
# Model dropout off (stop 25), load ~1.8: 90 % by step 40-50, 97.1-98.8 % at step 70 (seeds 0-2),
# 10.8-11.4 s wall; 80 steps had taken 15.9 s.
LAB = LabDefaults(lr=1e-2, steps=70, config=Config(r=8, alpha=8.0))


# ---------------------------------------------------------------- on disk (peft_edu.export)
PEFT_INIT = {"peft": True, "lycoris": "lycoris", "random": False}  # our init -> peft's init_weights


def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's LoKrConfig keys; target_modules by full name (peft matches them exactly)."""
    if arch.fan_in_fan_out:
        raise ValueError("Hugging Face peft 0.21's LoKr wraps nn.Linear only, not GPT-2's Conv1D layers: "
                         "this GPT-2 LoKr adapter cannot be saved in peft's format")
    return {"target_modules": list(arch.targets), "r": cfg.r, "alpha": cfg.alpha,
            "decompose_factor": cfg.decompose_factor, "decompose_both": cfg.decompose_both,
            "rank_dropout": cfg.rank_dropout, "rank_dropout_scale": cfg.rank_dropout_scale,
            "module_dropout": cfg.module_dropout, "use_effective_conv2d": False,
            "init_weights": PEFT_INIT[cfg.init], "rank_pattern": {}, "alpha_pattern": {}}


def peft_options(config: dict) -> dict:
    """Our Config from a peft LoKrConfig; per-layer ranks or alphas are not supported."""
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError("this LoKr adapter sets rank_pattern / alpha_pattern (per-layer r or alpha); "
                         "peft_edu's LoKr has one r and one alpha for every layer")
    init = config.get("init_weights", True)
    return {"r": config.get("r", 8), "alpha": float(config.get("alpha", 8)),
            "decompose_factor": config.get("decompose_factor", -1),
            "decompose_both": config.get("decompose_both", False),
            "rank_dropout": config.get("rank_dropout", 0.0),
            "rank_dropout_scale": config.get("rank_dropout_scale", False),
            "module_dropout": config.get("module_dropout", 0.0),
            "init": "lycoris" if init == "lycoris" else ("peft" if init else "random")}


# ---------------------------------------------------------------- the method page
# The page and the Compare race on the toy layer (16 × 24): C is 4 × 4, D 4 × 6; D is full
# from r = 3 up (r < max(4, 6) / 2 makes it D_a D_b). alpha = r: scaling 1.
# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0),
                        note="LoKr trains the Kronecker factors C and D; every entry of C scales a copy of D.", race_lr=0.1)


def watch(model: nn.Module) -> list[Watched]:
    """W0, the trained factors (C, D or their low-rank parts), C and D, and ΔW."""
    layer = first_target(model)
    s = layer.shapes
    views = [Watched("W0", "W₀", "frozen", "d_out", "d_in", lambda: base_weight(layer.base))]
    for side, low, (rows, cols), full in (("C", s.low_rank_c, ("u1", "v1"), "lokr_w1"),
                                          ("D", s.low_rank_d, ("u2", "v2"), "lokr_w2")):
        if low:
            a, b = getattr(layer, full + "_a"), getattr(layer, full + "_b")
            views += [Watched(f"{side}_a", f"{side}_a = {full}_a", "trainable", rows, "r", lambda a=a: a),
                      Watched(f"{side}_b", f"{side}_b = {full}_b", "trainable", "r", cols, lambda b=b: b),
                      Watched(side, f"{side} = {side}_a·{side}_b", "delta", rows, cols, getattr(layer, side))]
        else:
            p = getattr(layer, full)
            views.append(Watched(side, f"{side} = {full}", "trainable", rows, cols, lambda p=p: p))
    views.append(Watched("dW", "ΔW = (α/r)·C ⊗ D", "delta", "d_out", "d_in", layer.delta_weight))
    return views


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """ΔW x is one matrix product with the built ΔW: the gradient of ΔW (hence of C and D)
    needs each wrapped layer's input x; nothing more is kept per token."""
    return wrapping_profile(shape, targets, keeps_input=True, per_layer=0)
