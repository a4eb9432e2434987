"""GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection (Zhao et al., 2024,
arXiv 2403.03507).

    G_t = ∇_W L                       (m, n)  the full gradient of a 2-D weight W
    P_t = top-r left singular vectors of G_t   (m, r)  refreshed every T steps (§4.1)
    R_t = P_tᵀ G_t                    (r, n)  the gradient in the subspace
    N_t = Adam(R_t)                   (r, n)  Adam's moments live in the subspace: 2·r·n values
    W  <- W − η · α · P_t N_t                 α: GaLore's scale

GaLore is not an adapter but an optimizer: "GaLore ... allows full-parameter learning but is
more memory-efficient than common low-rank adaptation methods such as LoRA" (abstract). The
weight W itself trains, and its gradient is full rank; only the optimizer's state is low-rank.
Because the projector P changes every T steps ("switching across low-rank subspaces", §3.3),
the total change of W is not restricted to rank r — unlike LoRA's B·A. When m > n (more rows
than columns) the right singular vectors are taken instead (Q: (r, n), R = G Qᵀ: (m, r)), so the
state is always r times the LONGER side (Algorithm 2; galore-torch's "std" projection uses the
right side when m >= n). Memory of one layer (paper Table 1, m <= n): weights m·n, optimizer
states m·r + 2·n·r (the projector and Adam's two moments) instead of Adam's 2·m·n.

Defaults are galore-torch 1.0's (the paper's reference code, README): rank 128,
update_proj_gap T = 200, scale α = 0.25, proj_type "std". As galore-torch, Adam's moments are
kept (not reset) when P is refreshed, and eps is 1e-6.

In this project: the targeted linear layers' 2-D weights train in full through GaLore; their
biases stay frozen (GaLore projects only matrices, and the count then equals the weights, as the
papers count them: d_out · d_in per layer). The head, when it trains, gets plain Adam
(galore-torch's non-GaLore group). ``GaLoreLinear`` only marks a layer (its forward is the
base's); ``delta_weight()`` is zero because the change lives in W itself, so a saved file holds
the trained W (SAVED_AS "merged").

Use on any model: ``linear_groups(model, lr, cfg)`` and ``make_optimizer(groups, cfg)``
(``GaLoreAdamW``) train every nn.Linear weight of any nn.Module with GaLore.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import base_weight, first_target, wrap_targets
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
SAVED_AS = "merged"  # no adapter: the targeted weights themselves trained; a file holds them
PROJ_TYPES = ("std", "left", "right")


@dataclass(frozen=True)
class Config:
    r: int = 128  # rank of the gradient projection (galore-torch README: 128)
    update_proj_gap: int = 200  # T: P is recomputed from the gradient every T optimizer steps
    scale: float = 0.25  # α: the projected-back update is multiplied by α
    proj_type: str = "std"  # "std": left vectors if m < n, right ones if m >= n; or always "left"/"right"

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not isinstance(self.update_proj_gap, int) or self.update_proj_gap < 1:
            raise ValueError(f"update_proj_gap must be an integer >= 1, got {self.update_proj_gap!r}")
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if self.proj_type not in PROJ_TYPES:
            raise ValueError(f"proj_type must be one of {', '.join(PROJ_TYPES)}, got {self.proj_type!r}")


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return d_out * d_in  # the whole weight trains (the bias stays frozen); r shrinks the state, not this


def side(m: int, n: int, proj_type: str) -> str:
    """Which singular vectors project a (m, n) gradient: "left" (R = PᵀG, (r, n)) or "right"
    (R = G Qᵀ, (m, r)). "std" keeps the longer side: right when m >= n (as galore-torch)."""
    if proj_type == "std":
        return "right" if m >= n else "left"
    return proj_type


def state_values(m: int, n: int, cfg: Config) -> int:
    """Values GaLore's optimizer keeps for one (m, n) weight: Adam's two moments of R and the
    projector: 2·r·n + m·r for the left side (m < n), 2·m·r + r·n for the right one."""
    r = min(cfg.r, m, n)  # an SVD of a (m, n) matrix has at most min(m, n) vectors
    if side(m, n, cfg.proj_type) == "left":
        return 2 * r * n + m * r
    return 2 * m * r + r * n


# ---------------------------------------------------------------- the optimizer
@torch.no_grad()
def projector(G: torch.Tensor, r: int, which: str) -> torch.Tensor:
    """P (m, r) = top-r left singular vectors of G, or Q (r, n) = top-r right ones (rows), in
    G's dtype (the SVD itself runs in float32)."""
    U, _, Vh = torch.linalg.svd(G.float(), full_matrices=False)
    out = U[:, :r] if which == "left" else Vh[:r, :]
    return out.to(G.dtype)


def project(G: torch.Tensor, P: torch.Tensor, which: str) -> torch.Tensor:
    """R = PᵀG (r, n) on the left side, R = G Qᵀ (m, r) on the right one."""
    return P.T @ G if which == "left" else G @ P.T


def project_back(N: torch.Tensor, P: torch.Tensor, which: str) -> torch.Tensor:
    """The (m, n) update from the subspace: P N (left) or N Q (right)."""
    return P @ N if which == "left" else N @ P


class GaLoreAdamW(torch.optim.Optimizer):
    """AdamW whose parameter groups with a ``rank`` key run GaLore on their 2-D parameters.

    Such a group also holds ``update_proj_gap``, ``scale`` and ``proj_type`` (galore-torch's
    names). Other groups, and 1-D parameters, get plain Adam. Per parameter, ``state`` holds
    ``step`` (steps taken), ``P`` and ``side`` (the projector), ``exp_avg`` and ``exp_avg_sq``
    (Adam's moments, of R's shape)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p: nn.Parameter, group: dict) -> None:
        state = self.state[p]
        grad = p.grad
        galore = "rank" in group and p.dim() == 2
        if not state:
            state["step"] = 0
        if galore:
            t = state["step"]
            if "P" not in state or t % group["update_proj_gap"] == 0:  # steps 0, T, 2T, ...: a new subspace
                state["side"] = side(*p.shape, group["proj_type"])
                state["P"] = projector(grad, group["rank"], state["side"])
            grad = project(grad, state["P"], state["side"])  # R: (r, n) or (m, r)
        if "exp_avg" not in state:  # kept across refreshes, as galore-torch
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_avg_sq"] = torch.zeros_like(grad)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        m.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        step_size = group["lr"] * math.sqrt(1.0 - beta2 ** state["step"]) / (1.0 - beta1 ** state["step"])
        N = m / v.sqrt().add_(group["eps"])  # Adam's normalised step, in the subspace
        if galore:
            N = project_back(N, state["P"], state["side"]) * group["scale"]  # η·α·P·N
        p.add_(N, alpha=-step_size)
        if group["weight_decay"] > 0:
            p.add_(p, alpha=-group["lr"] * group["weight_decay"])


def galore_group(params, lr: float, cfg: Config) -> dict:
    """One GaLore parameter group (galore-torch's keys) of the 2-D ``params``."""
    return {"params": list(params), "lr": lr, "rank": cfg.r, "update_proj_gap": cfg.update_proj_gap,
            "scale": cfg.scale, "proj_type": cfg.proj_type}


def linear_groups(model: nn.Module, lr: float, cfg: Config, layers=None) -> list[dict]:
    """Groups for ANY model: the weight of every nn.Linear in ``layers`` (default: all of the
    model's) through GaLore, every other trainable parameter with plain Adam. Unfrozen weights
    only: call ``model.requires_grad_(True)`` first to pre-train everything."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)] if layers is None else list(layers)
    projected = {id(m.weight): m.weight for m in layers if m.weight.requires_grad}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in projected]
    groups = [galore_group(projected.values(), lr, cfg)]
    return groups + ([{"params": rest, "lr": lr}] if rest else [])


def state_numel(optimizer: torch.optim.Optimizer, p: torch.Tensor) -> int:
    """Values of Adam's two moments the optimizer keeps for ``p`` (2·r·n under GaLore)."""
    state = optimizer.state.get(p, {})
    return sum(state[k].numel() for k in ("exp_avg", "exp_avg_sq") if k in state)


# ---------------------------------------------------------------- the layer
class GaLoreLinear(nn.Module):
    """Marks a linear layer whose weight trains with GaLore; the forward pass is the base's."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__()
        self.base = base  # its weight W trains (in full; the optimizer projects its gradient)
        self.r = cfg.r
        base_weight(base).requires_grad_(True)  # nn.Linear / Conv1D; a 4-bit base has no weight to train

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x)

    def delta_weight(self) -> torch.Tensor:
        """Zero: the change is in W itself (there is no separate update to add)."""
        return torch.zeros_like(base_weight(self.base))

    def extra_repr(self) -> str:
        return f"r={self.r} (gradient projection)"


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every target; its weight trains (apply() froze the model first)."""
    wrap_targets(model, arch.targets, lambda base: GaLoreLinear(base, cfg))


def param_groups(model: nn.Module, lr: float, cfg: Config) -> list[dict]:
    """The GaLore layers' weights projected; anything else trainable (the head) plain Adam."""
    layers = [base_weight(m.base) for m in model.modules() if isinstance(m, GaLoreLinear)]
    ids = {id(w) for w in layers}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [galore_group(layers, lr, cfg)] + ([{"params": rest, "lr": lr}] if rest else [])


def make_optimizer(groups: list[dict], cfg: Config) -> torch.optim.Optimizer:
    """GaLore's own optimizer (protocol hook); weight decay 0 as the loops' AdamW."""
    return GaLoreAdamW(groups, lr=groups[0]["lr"] if groups else 1e-3, weight_decay=0.0)


def zero_delta(layer: GaLoreLinear) -> None:
    """Nothing to zero: a merged file's W is the whole layer already."""


def optimizer_state_values(shape: ModelShape, cfg: Config, targets: tuple[str, ...], trainable: int) -> int:
    """fp32 values the optimizer keeps (protocol hook for the calculator): Adam's 2 per
    trainable value, except each targeted block weight, which keeps ``state_values`` instead.
    GPT-2's fused q/k/v layer (3h, h) is counted as three (h, h) weights, a slight overestimate."""
    saved = sum(2 * m * n - state_values(m, n, cfg) for m, n in block_weight_shapes(shape, targets))
    return 2 * trainable - shape.n_layers * saved


def trained_linear_params(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> int:
    """Protocol hook for the calculator: the targeted block weights train (they are not frozen)."""
    return shape.n_layers * sum(m * n for m, n in block_weight_shapes(shape, targets))


def block_weight_shapes(shape: ModelShape, targets: tuple[str, ...]) -> list[tuple[int, int]]:
    """(d_out, d_in) of each block weight behind the generic targets q, k, v, o, mlp."""
    h, f, kv = shape.d_model, shape.d_ff, shape.kv_dim
    mlp = [(f, h), (f, h), (h, f)] if shape.gated_mlp else [(f, h), (h, f)]
    layers = {"q": [(h, h)], "k": [(kv, h)], "v": [(kv, h)], "o": [(h, h)], "mlp": mlp}
    return [s for t in targets for s in layers[t]]


# The lab (all-MiniLM-L6-v2, query and value, batch 16, r = 8, a new P every 50 steps), measured
# on the shared 2-core CPU (20 s CPU per run): lr 1e-2 reached 96.7 % test accuracy at step 100
# (96.2 % at 75); 1e-4, 3e-4 and 1e-3 stayed at chance (~50 %: the update α·η·P·N moves each
# weight by about α·η·√(r/m), far less than Adam's η), 3e-2 diverged to 50 %. The paper
# pre-trains at 1e-2 too.
# Stop 27 (``train(defaults("galore", ...))``, seeds 0-2, load 1.6-1.9): 80 steps with a new P at
# step 50 took 17.5 s in bench_lab.py --all; 65 steps with that refresh ended at 99.2 / 71.7 / 97.5 %
# (the late refresh throws a seed off). One projector for the whole run (T = 100 > 70 steps): 90 %
# after 4.8-6.4 s, 94.2-99.6 % at the end, 11.6-12.3 s wall. The method page's toy run shows the
# refresh (T = 20 of its 80 steps).
LAB = LabDefaults(lr=1e-2, steps=70, config=Config(r=8, update_proj_gap=100, scale=0.25))
# The page: the toy layer, r = 4, a new projector every 20 of its 80 steps.
# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, update_proj_gap=20, scale=0.25),
                        note="GaLore trains W itself; only its optimizer state is low-rank, and the "
                             "projector is recomputed every T = 20 steps.", race_lr=0.1)


# ---------------------------------------------------------------- the method page
def watch(model: nn.Module) -> list[Watched]:
    """W (it trains in full) and its change W − W₀, which is not limited to rank r."""
    layer = first_target(model)
    W = base_weight(layer.base)
    W0 = W.detach().clone()
    return [Watched("W", "W (trains, gradient projected)", "trainable", "d_out", "d_in", lambda: W),
            Watched("dW", "W − W₀", "delta", "d_out", "d_in", lambda: W - W0)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """The targeted weights train, so each keeps its input for the weight gradient."""
    return wrapping_profile(shape, targets, keeps_input=True, per_layer=0)
