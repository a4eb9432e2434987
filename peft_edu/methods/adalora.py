"""AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning (Zhang et al.,
2023, arXiv 2303.10512).

    h = W0 x + s · P Λ Q x      P: (d_out, r0), Λ = diag(λ): (r0,), Q: (r0, d_in), W0 frozen
    R(P, Q) = ‖PᵀP − I‖²_F + ‖Q Qᵀ − I‖²_F                     (eq. 4, added as γ Σ_layers R)

LoRA gives every adapted layer the same rank, although some matrices matter far more to a
task than others. AdaLoRA writes each update in the form of a singular value decomposition,
P Λ Q, and moves a total rank budget between the layers during training (§3):

- The triplets (P's column i, λ_i, Q's row i) start with Λ = 0 and Gaussian P, Q (std 0.02),
  so ΔW = 0 at step 0. The regulariser R pushes P and Q towards orthonormal columns and
  rows, so each λ_i behaves like a singular value of ΔW and zeroing it removes exactly one
  rank — without ever computing an SVD.
- Importance (§3.2): every entry w of P, λ, Q has a sensitivity I = |w · ∂L/∂w|, smoothed
  as Ī ← β1 Ī + (1 − β1) I and given an uncertainty Ū ← β2 Ū + (1 − β2) |I − Ī| (eqs. 8, 9);
  its score is s = Ī · Ū (eq. 10). A triplet's score is s(λ_i) + the mean of s over P's
  column i + the mean over Q's row i (eq. 7).
- Budget (§3.3): the total number of kept triplets b(t) starts at b(0) = n · r0 (n adapted
  layers), stays there for t_i warm-up steps, falls on a cubic schedule
  b(t) = b(T) + (b(0) − b(T)) (1 − (t − t_i) / (T − t_i − t_f))³ to b(T) = n · r, and stays
  at b(T) for the last t_f steps. Every ΔT steps the λ of the triplets below the b(t)-th
  best score are set to zero (eq. 5): a layer whose triplets score high keeps more rank, so
  the budget moves towards the layers that matter. Pruned λ can grow back and be kept at
  the next allocation; in the last t_f steps the pattern is fixed.

Training loop: add ``extra_loss(model)`` (γ Σ R) to the task loss, call ``after_step(model)``
right after every ``optimizer.step()`` (the gradients are still on the parameters): the
protocol in ``peft_edu.methods`` does both in the lab and the lessons.

Trainable per layer during training: r0 (d_in + d_out + 1) — P, Q and λ of every triplet,
kept or not (peft counts the same); after training, only the kept triplets matter:
Σ_k b_k (d_in + d_out + 1), b_k the layer's final rank (``kept_params``).

Paper and Hugging Face peft (0.21, ``ADALORA``: lora_A = Q, lora_E = λ as (r0, 1),
lora_B = P; ``ranknum`` = r0 is not saved) differ; this module follows the paper:
- regulariser: the paper's squared Frobenius norms summed over the layers, weight γ = 0.1
  (the authors' scripts); peft (and the authors' code) add the unsquared norms averaged over
  the matrices, ``orth_reg_weight`` default 0.5.
- scale: the paper writes ΔW = PΛQ (s = 1): alpha = 0 here means alpha = r0. peft and the
  authors' code scale by lora_alpha / (r0 + 1e-5) (peft's lora_alpha default 8; the authors'
  scripts 16). The forward pass here is s = alpha / r0, which is peft's to 1e-6 relative.
- ranks: ``r`` is the target average rank (peft's target_r 8); r0 = ``init_r`` (peft 12),
  0 = ⌈1.5 r⌉ (the authors' SQuAD run: 12 for 8). Schedule defaults as peft
  (t_i = t_f = 0, ΔT = 1); the paper tunes them per task (e.g. SQuAD: 50, 100, 10 of 300).
- importance, schedule and masking are peft's RankAllocator (both follow the paper), step t
  counted from 1 (the first call of ``after_step``).

On disk: peft's ADALORA. We save every triplet (pruned ones with their λ = 0) and no
rank_pattern, so peft loads the same forward pass. peft's own save keeps only the kept
triplets and writes ``rank_pattern``; loading such a file here sets ``Config.rank_pattern``
and puts the triplets back in place (the others zero).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import base_weight, factory_kwargs, first_target, linear_shape, wrap_targets
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
COUNT_AFFINE = False  # init_r = 0 means ⌈1.5 r⌉ per layer: the count is not a straight line in r
PEFT_NAMES = {"Q": "lora_A", "E": "lora_E", "P": "lora_B"}  # peft's ParameterDict names (no ".weight")


@dataclass(frozen=True)
class Config:
    r: int = 8  # target average rank: the final budget b(T) = n · r triplets (peft's target_r, 8)
    init_r: int = 0  # rank r0 of every layer at the start; 0 = ⌈1.5 r⌉ (peft's init_r, 12)
    alpha: float = 0.0  # scale s = alpha / r0; 0 = r0, s = 1, the paper's ΔW = PΛQ (peft's lora_alpha 8)
    dropout: float = 0.0  # dropout on the input of the adapter path (peft's lora_dropout)
    gamma: float = 0.1  # weight of the orthogonality regulariser (authors' scripts 0.1; peft 0.5, other form)
    beta1: float = 0.85  # EMA of the sensitivity (eq. 8; paper and peft 0.85)
    beta2: float = 0.85  # EMA of the uncertainty (eq. 9; paper and peft 0.85)
    tinit: int = 0  # t_i: warm-up steps at the full budget b(0) (peft 0)
    tfinal: int = 0  # t_f: last steps at b(T) with the rank pattern fixed (peft 0)
    delta_t: int = 1  # ΔT: steps between two allocations (peft's deltaT, 1)
    total_step: int = 100  # T: the run's optimizer steps (peft requires it: no default); the lab's 100
    rank_pattern: tuple | None = None  # ((layer, (kept, ...)), ...): a fixed pattern read from a peft file

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not isinstance(self.init_r, int) or isinstance(self.init_r, bool) or \
                (self.init_r != 0 and self.init_r < self.r):
            raise ValueError(f"init_r must be 0 (= ⌈1.5 r⌉) or an integer >= r = {self.r}, got {self.init_r!r}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0 (0 = init_r), got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {self.gamma}")
        for name in ("beta1", "beta2"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        for name, low in (("total_step", 1), ("delta_t", 1), ("tinit", 0), ("tfinal", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.tinit >= self.total_step - self.tfinal:
            raise ValueError(f"tinit must be < total_step - tfinal = {self.total_step - self.tfinal} "
                             f"(no steps left for the budget to fall), got {self.tinit}")
        if self.rank_pattern is not None:  # JSON gives lists, peft a dict: store as nested tuples
            items = self.rank_pattern.items() if isinstance(self.rank_pattern, dict) else self.rank_pattern
            object.__setattr__(self, "rank_pattern",
                               tuple((str(name), tuple(bool(k) for k in kept)) for name, kept in items))

    @property
    def start_rank(self) -> int:
        """r0: ``init_r``, or ⌈1.5 r⌉ when it is 0."""
        return self.init_r or (3 * self.r + 1) // 2

    @property
    def scaling(self) -> float:
        """s = alpha / r0 (alpha 0: s = 1)."""
        return (self.alpha or self.start_rank) / self.start_rank


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    """P: d_out·r0, λ: r0, Q: r0·d_in — every triplet trains, pruned or not."""
    return cfg.start_rank * (d_in + d_out + 1)


class SVDLinear(nn.Module):
    """Wraps a frozen linear layer ``base`` (W0) and adds s · P diag(λ) Q x."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__()
        self.base = base  # frozen W0: nn.Linear, GPT-2's Conv1D (stores W0ᵀ) or NF4Linear
        self.d_out, self.d_in = linear_shape(base)
        self.r = cfg.start_rank
        self.scaling = cfg.scaling
        self.cfg = cfg  # the schedule after_step follows
        like = factory_kwargs(base)
        self.P = nn.Parameter(torch.randn(self.d_out, self.r, **like) * 0.02)  # (d_out, r0): left vectors
        self.E = nn.Parameter(torch.zeros(self.r, **like))  # (r0,): λ, zero => ΔW = 0 at start
        self.Q = nn.Parameter(torch.randn(self.r, self.d_in, **like) * 0.02)  # (r0, d_in): right vectors
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.register_buffer("mask", torch.ones(self.r, dtype=torch.bool, device=like["device"]),
                             persistent=False)  # (r0,): triplets kept at the latest allocation
        for name in PEFT_NAMES:  # importance state of every entry (eqs. 8, 9): Ī and Ū
            p = getattr(self, name)
            self.register_buffer(f"avg_{name}", torch.zeros_like(p), persistent=False)
            self.register_buffer(f"unc_{name}", torch.zeros_like(p), persistent=False)
        self.step = 0  # optimizer steps seen by after_step
        self.merged = False  # True while ΔW lives inside W0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # (..., d_out)
        if self.merged:
            return h
        z = F.linear(self.dropout(x), self.E[:, None] * self.Q)  # (..., r0): Λ Q x
        return h + F.linear(z, self.P) * self.scaling  # (..., d_out)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = s · P diag(λ) Q, shape (d_out, d_in)."""
        return self.scaling * (self.P @ (self.E[:, None] * self.Q))

    def orth_penalty(self) -> torch.Tensor:
        """R(P, Q) = ‖PᵀP − I‖²_F + ‖Q Qᵀ − I‖²_F (eq. 4): zero for orthonormal P columns, Q rows."""
        eye = torch.eye(self.r, device=self.P.device, dtype=self.P.dtype)
        return ((self.P.T @ self.P - eye) ** 2).sum() + ((self.Q @ self.Q.T - eye) ** 2).sum()

    @torch.no_grad()
    def update_importance(self, beta1: float, beta2: float) -> None:
        """Ī ← β1 Ī + (1 − β1) I, Ū ← β2 Ū + (1 − β2)|I − Ī|, with I = |w · ∂L/∂w| (eqs. 6, 8, 9)."""
        for name in PEFT_NAMES:
            p = getattr(self, name)
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            sensitivity = (p * grad).abs()
            avg, unc = getattr(self, f"avg_{name}"), getattr(self, f"unc_{name}")
            avg.mul_(beta1).add_((1 - beta1) * sensitivity)
            unc.mul_(beta2).add_((1 - beta2) * (sensitivity - avg).abs())

    def triplet_scores(self) -> torch.Tensor:
        """S_i = s(λ_i) + mean_j s(P_ji) + mean_j s(Q_ij), s = Ī · Ū (eqs. 7, 10); shape (r0,)."""
        score = {name: getattr(self, f"avg_{name}") * getattr(self, f"unc_{name}") for name in PEFT_NAMES}
        return score["E"] + score["P"].mean(dim=0) + score["Q"].mean(dim=1)

    @torch.no_grad()
    def apply_mask(self) -> None:
        """λ_i = 0 for every triplet not kept (eq. 5)."""
        self.E.masked_fill_(~self.mask, 0.0)

    @property
    def rank(self) -> int:
        """Triplets kept at the latest allocation."""
        return int(self.mask.sum())

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            W0 = base_weight(self.base)
            W0 += self.delta_weight().to(W0.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            W0 = base_weight(self.base)
            W0 -= self.delta_weight().to(W0.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, r0={self.r}, rank={self.rank}, scaling={self.scaling:g}"


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every target in an ``SVDLinear``; a fixed ``rank_pattern`` (from a peft file) sets the masks."""
    wrap_targets(model, arch.targets, lambda base: SVDLinear(base, cfg))
    for name, kept in cfg.rank_pattern or ():
        if name not in arch.targets:
            raise ValueError(f"rank_pattern names {name!r}, which is not an adapted layer")
        layer = model.get_submodule(name)
        if len(kept) != layer.r:
            raise ValueError(f"rank_pattern of {name} has {len(kept)} entries, the layer has r0 = {layer.r}")
        layer.mask.copy_(torch.tensor(kept, dtype=torch.bool))
        layer.apply_mask()


def svd_layers(model: nn.Module) -> dict[str, SVDLinear]:
    """The model's AdaLoRA layers by full name, in model order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, SVDLinear)}


# ---------------------------------------------------------------- training: loss term and allocation
def extra_loss(model: nn.Module) -> torch.Tensor:
    """γ Σ_k R(P_k, Q_k): the orthogonality regulariser added to the task loss (§3.1)."""
    layers = list(svd_layers(model).values())
    if not layers:
        return torch.zeros(())
    return layers[0].cfg.gamma * sum(layer.orth_penalty() for layer in layers)


def budget(step: int, cfg: Config, n_layers: int) -> tuple[int, bool]:
    """(b(t), whether to allocate at step t): b(0) for t <= t_i, the cubic fall to b(T) until
    T − t_f, then b(T); between, an allocation every ΔT steps (§3.3, as peft's RankAllocator)."""
    b0, bT = n_layers * cfg.start_rank, n_layers * cfg.r
    T, ti, tf = cfg.total_step, cfg.tinit, cfg.tfinal
    if step <= ti:
        return b0, False
    if step > T - tf:
        return bT, True
    left = 1 - (step - ti) / (T - tf - ti)  # 1 just after the warm-up, 0 at T − t_f
    return int((b0 - bT) * left ** 3 + bT), step % cfg.delta_t == 0


@torch.no_grad()
def mask_to_budget(layers: list[SVDLinear], b: int) -> None:
    """Keep the b best-scoring triplets of all layers together; zero the others' λ (eq. 5)."""
    scores = [layer.triplet_scores() for layer in layers]
    drop = sum(layer.r for layer in layers) - b
    threshold = torch.kthvalue(torch.cat(scores), drop).values if drop > 0 else None
    for layer, score in zip(layers, scores):
        if threshold is None:
            layer.mask.fill_(True)
        else:  # ties at the threshold drop together, as in peft
            layer.mask.copy_(score > threshold)
        layer.apply_mask()


@torch.no_grad()
def after_step(model: nn.Module) -> None:
    """One step of the budget allocator: update the importance, then mask to b(t) when due."""
    layers = list(svd_layers(model).values())
    if not layers:
        return
    cfg = layers[0].cfg
    step = layers[0].step + 1
    for layer in layers:
        layer.step = step
    last = cfg.total_step - cfg.tfinal  # the final allocation
    if step < last:
        for layer in layers:
            layer.update_importance(cfg.beta1, cfg.beta2)
    if step > last:  # final fine-tuning: the pattern chosen at T − t_f stays
        for layer in layers:
            layer.apply_mask()
        return
    b, due = budget(step, cfg, len(layers))
    if due or step == last:
        mask_to_budget(layers, b)


def ranks(model: nn.Module) -> dict[str, int]:
    """Kept triplets per adapted layer (after the latest allocation)."""
    return {name: layer.rank for name, layer in svd_layers(model).items()}


def kept_params(model: nn.Module) -> int:
    """Σ_k b_k (d_in + d_out + 1): the parameters of the kept triplets (what a pruned file holds)."""
    return sum(layer.rank * (layer.d_in + layer.d_out + 1) for layer in svd_layers(model).values())


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's AdaLoraConfig keys. No rank_pattern: every triplet is saved (pruned ones with λ = 0)."""
    return {"target_modules": list(arch.targets), "fan_in_fan_out": arch.fan_in_fan_out, "bias": "none",
            "init_r": cfg.start_rank, "target_r": cfg.r, "lora_alpha": cfg.alpha or float(cfg.start_rank),
            "lora_dropout": cfg.dropout, "orth_reg_weight": cfg.gamma, "beta1": cfg.beta1, "beta2": cfg.beta2,
            "tinit": cfg.tinit, "tfinal": cfg.tfinal, "deltaT": cfg.delta_t, "total_step": cfg.total_step,
            "rank_pattern": None, "init_lora_weights": True, "use_rslora": False, "use_dora": False}


def peft_options(config: dict) -> dict:
    """Our Config from a peft AdaLoraConfig; peft's rank_pattern keys end in ".lora_E"."""
    pattern = config.get("rank_pattern")
    if pattern:
        pattern = {name.removesuffix(".default").removesuffix(".lora_E"): kept for name, kept in pattern.items()}
    init_r = config.get("init_r", 12)
    return {"r": config.get("target_r", 8), "init_r": init_r, "alpha": float(config.get("lora_alpha", 8)),
            "dropout": config.get("lora_dropout", 0.0), "gamma": config.get("orth_reg_weight", 0.5),
            "beta1": config.get("beta1", 0.85), "beta2": config.get("beta2", 0.85),
            "tinit": config.get("tinit", 0), "tfinal": config.get("tfinal", 0), "delta_t": config.get("deltaT", 1),
            "total_step": config["total_step"], "rank_pattern": pattern or None}


def to_peft(model: nn.Module, module: str, name: str) -> torch.Tensor:
    """peft's layout: λ as a column (r0, 1); P, Q as they are."""
    value = getattr(model.get_submodule(module), name)
    return value[:, None] if name == "E" else value


def from_peft(model: nn.Module, module: str, name: str, value: torch.Tensor) -> torch.Tensor:
    """A peft tensor in our layout; a pruned one (only the kept triplets, peft's rank_pattern)
    goes back into the full r0 triplets at the kept places, zero elsewhere."""
    layer = model.get_submodule(module)
    value = value[:, 0] if name == "E" else value
    axis = 1 if name == "P" else 0
    if value.shape[axis] == layer.r:
        return value
    if value.shape[axis] != layer.rank:
        raise ValueError(f"{module}.{name}: {value.shape[axis]} triplets in the file, but the layer keeps "
                         f"{layer.rank} of r0 = {layer.r} (is rank_pattern missing?)")
    full = torch.zeros_like(getattr(layer, name), device=value.device, dtype=value.dtype)
    index = layer.mask.nonzero()[:, 0].to(value.device)
    return full.index_copy(axis, index, value)


# The lab (all-MiniLM-L6-v2, query and value, batch 16), measured at load average ~4 on the
# shared 2-core CPU (about 20 s CPU per run): lr 1e-2, alpha 32, γ = 1e-3: 99.2 % test accuracy at
# step 100 (47 % at step 50: AdaLoRA's three factors start from λ = 0, so it leaves the plateau
# later than LoRA). With the paper's γ = 0.1 (squared norms summed over 12 layers) P and Q stay
# orthonormal and nothing is learned in 100-200 steps (50 % at lr 2e-3, 1e-2 and 2e-2, alpha 16-64);
# with γ = 0: 98.8 % at step 50, but P and Q drift far from orthogonal (‖PᵀP − I‖² ~ 1,700).
# Model dropout off (stop 25), load ~1.9: T = 75 steps (the budget falls over steps 10-45): 90 % by
# step 55-60, 97.5-98.8 % at step 75 (seeds 0-2), 10.5-11.3 s wall; 100 steps had taken 18.7 s.
LAB = LabDefaults(lr=1e-2, steps=75, config=Config(r=8, init_r=12, alpha=32.0, gamma=1e-3, tinit=10,
                                                   tfinal=30, delta_t=5, total_step=75))
# The page and the Compare race: target r = 4 from r0 = 6, the budget falling over 30 steps.
# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, total_step=30, tinit=5, tfinal=5),
                        note="AdaLoRA prunes the least important λ: the kept triplets fall from r0 to the target r.", race_lr=0.1)


# ---------------------------------------------------------------- the method page
def watch(model: nn.Module) -> list[Watched]:
    """W0, P, λ, Q, which triplets are kept, and ΔW of the first adapted layer."""
    layer = first_target(model)
    return [Watched("W0", "W₀", "frozen", "d_out", "d_in", lambda: base_weight(layer.base)),
            Watched("P", "P (left vectors)", "trainable", "d_out", "r", lambda: layer.P),
            Watched("E", "λ (singular values)", "trainable", "r", "1", lambda: layer.E),
            Watched("Q", "Q (right vectors)", "trainable", "r", "d_in", lambda: layer.Q),
            Watched("kept", "kept triplets (1) / pruned (0)", "moving", "r", "1", lambda: layer.mask.float()),
            Watched("dW", "ΔW = s·P·diag(λ)·Q", "delta", "d_out", "d_in", layer.delta_weight)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """As LoRA's at rank r0: each wrapped layer's input x (Q's gradient) and Λ Q x, r0 values
    per token (P's gradient); λ's gradient comes from the same two."""
    return wrapping_profile(shape, targets, keeps_input=True, per_layer=cfg.start_rank)
