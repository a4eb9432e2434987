"""OFT: Controlling Text-to-Image Diffusion by Orthogonal Finetuning (Qiu, Liu et al., 2023,
arXiv 2306.07280).

    W' = R W0                      (the paper's layout: W0 is d_in × n, one neuron per column)
    W' = W0 Rᵀ,  h = W0 (Rᵀ x)     (ours and torch's: W0 is d_out × d_in, one neuron per row)
    R = diag(R_1, ..., R_n)        n = d_in / b blocks of size b × b on the input side
    R_i = (I + S_i)(I − S_i)⁻¹     the Cayley transform of a skew-symmetric S_i (S_iᵀ = −S_i)

LoRA adds a low-rank matrix to W0; OFT instead multiplies W0 by an orthogonal matrix R
(RᵀR = I). Each neuron w_j (a row of W0, a vector over the d_in inputs) becomes R w_j: it
is rotated, never stretched, and all neurons turn by the same R, so every neuron keeps its
length and every pair keeps the angle between them, ⟨R w_j, R w_k⟩ = ⟨w_j, w_k⟩. The paper
argues this relational structure — measured by the "hyperspherical energy" of the neurons —
is what a pretrained model knows: "OFT can provably preserve hyperspherical energy which
characterizes the pairwise neuron relationship on the unit hypersphere" (abstract). R must
therefore act on the input side (d_in): rotating the outputs instead would keep the columns'
angles, not the neurons'. Hugging Face peft acts on the same side (it rotates the input x
before the frozen layer), so this module does too.

Orthogonality is built in, not learnt: any skew-symmetric S gives an orthogonal R through
the Cayley transform, so the free (upper-triangular) entries of S train with plain Adam and
R stays orthogonal to rounding error at every step. S = 0 gives R = I: the model starts as
the base. A full d_in × d_in rotation would train d_in (d_in − 1) / 2 numbers per layer, so
R is block-diagonal: n blocks of size b. Trainable per layer: n · b (b − 1) / 2 =
d_in (b − 1) / 2 (block_share: one block for all, b (b − 1) / 2).

Options, as in the paper and peft:
- ``block_share``: one S shared by all blocks of a layer (the paper's parameter sharing).
- ``coft``: Constrained OFT, the paper's variant that keeps R close to I. Like the authors'
  code and peft, it bounds the skew matrix of each block, ‖S_i‖_F ≤ eps / sqrt(number of S),
  by projecting S back onto that ball after every optimizer step (``after_step``).

Hugging Face peft 0.21 (``OFTConfig``), matched exactly:
- Block size: peft's default is ``oft_block_size = 32`` (r = 0); the paper instead fixes the
  number of blocks r. Exactly one of ``block_size`` and ``n_blocks`` (peft's r) is set. When
  it does not divide d_in, peft takes (with a warning) the divisor of d_in nearest to it (ties:
  the smaller; d_in itself when it is larger); ``fit_divisor`` does the same, so counts and
  shapes agree with peft (the layer's repr shows the b it took).
- The packed parameter ``oft_R.weight``, (n or 1, b (b − 1) / 2): the upper triangle of each
  block's skew matrix, row by row (``torch.triu_indices`` order), = our ``S_upper``.
- Sign: peft's exact branch (``use_cayley_neumann = False``) computes (I − Q)(I + Q)⁻¹, the
  Cayley transform of −Q, so its file holds Q = −S (``to_peft`` / ``from_peft``).
- peft's config default is ``use_cayley_neumann = True``: OFTv2's truncated Neumann series
  for (I − S)⁻¹, fast but only approximately orthogonal. This module follows the paper (exact
  Cayley) and writes ``use_cayley_neumann = false``; every comparison with peft uses that
  option, and a peft file saved with the approximation is refused with a clear message. (That
  series approximates (I + Q)(I − Q)⁻¹, the opposite sign of peft's exact branch: peft's two
  options read the same ``oft_R`` as rotations inverse to each other.)
- peft's ``module_dropout`` (BOFT's multiplicative dropout of whole blocks) is not the OFT
  paper's and acts only in training; it is saved as 0 and ignored on load.
- peft 0.21's OFT wraps nn.Linear only, not GPT-2's Conv1D: ours trains there too (it rotates
  the input, whatever stores W0), but such an adapter cannot be saved in peft's format
  (``peft_config`` raises, saying so), as for LoKr.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.methods.layers import base_weight, factory_kwargs, first_target, linear_shape, wrap_targets
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
PEFT_NAMES = {"S_upper": "oft_R.weight"}  # peft's packed skew entries (stored as −S, see to_peft)


@dataclass(frozen=True)
class Config:
    block_size: int = 32  # b: size of each diagonal block of R (peft's oft_block_size, default 32); 0: use n_blocks
    n_blocks: int = 0  # the paper's r: blocks per layer, b = d_in / r (peft's r); 0: use block_size
    block_share: bool = False  # one S shared by every block of a layer (peft default False)
    coft: bool = False  # Constrained OFT: keep each ‖S_i‖_F ≤ eps / sqrt(#S) (peft default False)
    eps: float = 6e-5  # COFT's radius (peft's default 6e-5); only used with coft

    def __post_init__(self) -> None:
        for name in ("block_size", "n_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if (self.block_size == 0) == (self.n_blocks == 0):
            raise ValueError(f"set exactly one of block_size and n_blocks (the other 0), as peft's "
                             f"oft_block_size and r; got block_size={self.block_size}, n_blocks={self.n_blocks}")
        if self.block_size == 1:
            raise ValueError("block_size must be >= 2 (a 1×1 rotation has nothing to train), got 1")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps!r}")


def fit_divisor(n: int, want: int) -> int:
    """The divisor of ``n`` nearest to ``want`` (ties: the smaller), ``n`` if want >= n:
    peft's rule when a block size (or block count) does not divide d_in."""
    if want >= n:
        return n
    lower = want
    while n % lower:
        lower -= 1
    higher = want
    while n % higher:  # stops at n at the latest
        higher += 1
    return lower if want - lower <= higher - want else higher


def blocks(d_in: int, cfg: Config) -> tuple[int, int]:
    """(n, b): the number of diagonal blocks and their size for a layer with d_in inputs."""
    if cfg.block_size:
        b = fit_divisor(d_in, cfg.block_size)
        return d_in // b, b
    n = fit_divisor(d_in, cfg.n_blocks)
    return n, d_in // n


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    """n · b(b − 1)/2 free entries of the skew matrices (one block's worth with block_share);
    d_out does not enter: R acts on the inputs."""
    n, b = blocks(d_in, cfg)
    return (1 if cfg.block_share else n) * (b * (b - 1) // 2)


def skew(S_upper: torch.Tensor, b: int) -> torch.Tensor:
    """(k, b(b−1)/2) free entries -> (k, b, b) skew-symmetric matrices S = U − Uᵀ."""
    rows, cols = torch.triu_indices(b, b, 1, device=S_upper.device)
    U = S_upper.new_zeros(S_upper.shape[0], b, b)
    U[:, rows, cols] = S_upper
    return U - U.transpose(1, 2)


def cayley(S: torch.Tensor) -> torch.Tensor:
    """R = (I + S)(I − S)⁻¹ for a batch of skew-symmetric S (k, b, b), solved in float32."""
    S32 = S.float()
    eye = torch.eye(S.shape[-1], device=S.device, dtype=torch.float32).expand_as(S32)
    return torch.linalg.solve(eye - S32, eye + S32, left=False).to(S.dtype)  # X (I − S) = I + S


class OFTLinear(nn.Module):
    """Wraps a frozen linear layer ``base`` (W0): h = W0 (Rᵀ x), R block-diagonal orthogonal."""

    def __init__(self, base: nn.Module, cfg: Config) -> None:
        super().__init__()
        self.base = base  # frozen W0: nn.Linear, GPT-2's Conv1D or NF4Linear (only x is touched)
        self.d_out, self.d_in = linear_shape(base)
        self.n, self.b = blocks(self.d_in, cfg)
        self.block_share = cfg.block_share
        self.coft, self.eps = cfg.coft, cfg.eps
        k = 1 if cfg.block_share else self.n
        # (k, b(b−1)/2): the free entries of each S_i; zero => S = 0, R = I, the base model
        self.S_upper = nn.Parameter(torch.zeros(k, self.b * (self.b - 1) // 2, **factory_kwargs(base)))
        self.merged = False  # True while W0 Rᵀ lives in the base

    def skew_blocks(self) -> torch.Tensor:
        """(n, b, b): every block's S (the shared one repeated with block_share)."""
        S = skew(self.S_upper, self.b)
        return S.expand(self.n, -1, -1) if self.block_share else S

    def rotation_blocks(self) -> torch.Tensor:
        """(n, b, b): R_i = (I + S_i)(I − S_i)⁻¹, each orthogonal."""
        return cayley(self.skew_blocks())

    def rotation(self) -> torch.Tensor:
        """R = diag(R_1, ..., R_n), (d_in, d_in)."""
        return torch.block_diag(*self.rotation_blocks())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        R = self.rotation_blocks().to(x.dtype)  # (n, b, b)
        xb = x.reshape(*x.shape[:-1], self.n, self.b)  # (..., n, b): x cut into blocks
        rotated = torch.einsum("...nk,nkc->...nc", xb, R)  # each block: x_iᵀ R_i, i.e. R_iᵀ x_i
        return self.base(rotated.reshape(x.shape))  # W0 (Rᵀ x) = (W0 Rᵀ) x

    def original_weight(self) -> torch.Tensor:
        """W0 (d_out, d_in), also while merged (the base then holds W0 Rᵀ; R⁻ᵀ = R)."""
        W = base_weight(self.base)
        return W @ self.rotation().to(W.dtype) if self.merged else W

    def weight(self) -> torch.Tensor:
        """W' = W0 Rᵀ (d_out, d_in): each neuron (row) w_j turned into R w_j."""
        return self.original_weight() @ self.rotation().T.to(base_weight(self.base).dtype)

    def delta_weight(self) -> torch.Tensor:
        """The equivalent additive change W' − W0 = W0 (Rᵀ − I): full rank in general."""
        return self.weight() - self.original_weight()

    @torch.no_grad()
    def merge(self) -> None:
        """W0 <- W0 Rᵀ; the forward pass then costs exactly the base layer's."""
        if not self.merged:
            W = base_weight(self.base)
            W.copy_(W @ self.rotation().T.to(W.dtype))
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W0 Rᵀ -> W0, exactly: R is orthogonal, so (Rᵀ)⁻¹ = R (no matrix inverse needed)."""
        if self.merged:
            W = base_weight(self.base)
            W.copy_(W @ self.rotation().to(W.dtype))
            self.merged = False

    @torch.no_grad()
    def project(self) -> None:
        """COFT: pull each S_i back onto ‖S_i‖_F ≤ eps / sqrt(k), k the number of S (as peft)."""
        radius = self.eps / self.S_upper.shape[0] ** 0.5
        norms = skew(self.S_upper, self.b).flatten(1).norm(dim=1, keepdim=True)  # (k, 1)
        scale = torch.where(norms > radius, radius / norms.clamp_min(1e-30), torch.ones_like(norms))
        self.S_upper.mul_(scale.to(self.S_upper.dtype))

    def extra_repr(self) -> str:
        share = ", block_share" if self.block_share else ""
        coft = f", coft eps={self.eps:g}" if self.coft else ""
        return f"d_in={self.d_in}, d_out={self.d_out}, blocks={self.n}×({self.b}×{self.b}){share}{coft}"


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every layer named in ``arch.targets`` in an ``OFTLinear`` (R = I at the start)."""
    wrap_targets(model, arch.targets, lambda base: OFTLinear(base, cfg))


def oft_layers(model: nn.Module) -> list[OFTLinear]:
    return [m for m in model.modules() if isinstance(m, OFTLinear)]


def after_step(model: nn.Module) -> None:
    """COFT's projection after every optimizer step; plain OFT needs nothing (R is orthogonal
    by construction)."""
    for layer in oft_layers(model):
        if layer.coft:
            layer.project()


def orthogonality_error(layer: OFTLinear) -> float:
    """‖RᵀR − I‖_F of the layer's whole R (0 in exact arithmetic)."""
    with torch.no_grad():
        R = layer.rotation().double()
        return float(torch.linalg.matrix_norm(R.T @ R - torch.eye(R.shape[0], dtype=R.dtype)))


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's OFTConfig keys, with the exact Cayley transform (``use_cayley_neumann`` off)."""
    if arch.fan_in_fan_out:
        raise ValueError("Hugging Face peft 0.21's OFT wraps nn.Linear only, not GPT-2's Conv1D layers: "
                         "a GPT-2 OFT adapter cannot be saved in peft's format")
    return {"target_modules": list(arch.targets), "fan_in_fan_out": arch.fan_in_fan_out, "bias": "none",
            "r": cfg.n_blocks, "oft_block_size": cfg.block_size, "module_dropout": 0.0,
            "block_share": cfg.block_share, "coft": cfg.coft, "eps": cfg.eps, "init_weights": True,
            "use_cayley_neumann": False, "num_cayley_neumann_terms": 5}


def peft_options(config: dict) -> dict:
    """Our Config from a peft OFTConfig; the Cayley–Neumann approximation (peft's default) and
    trained biases cannot be held exactly, so such files are refused, saying why."""
    if config.get("use_cayley_neumann", True):  # absent: peft's default, True
        raise ValueError("this OFT adapter was trained with peft's Cayley-Neumann approximation "
                         "(use_cayley_neumann=True, peft's default); peft_edu's OFT is the paper's exact "
                         "Cayley transform: train it in peft with use_cayley_neumann=False")
    if config.get("bias", "none") != "none":
        raise ValueError(f"this OFT adapter trains biases (bias={config['bias']!r}); peft_edu's OFT trains R only")
    return {"block_size": config.get("oft_block_size", 0), "n_blocks": config.get("r", 0),
            "block_share": bool(config.get("block_share", False)), "coft": bool(config.get("coft", False)),
            "eps": float(config.get("eps", 6e-5))}


def to_peft(model: nn.Module, module: str, name: str) -> torch.Tensor:
    """peft's oft_R.weight = −S_upper: its exact branch computes (I − Q)(I + Q)⁻¹, our R for Q = −S."""
    return -model.get_submodule(module).S_upper


def from_peft(model: nn.Module, module: str, name: str, value: torch.Tensor) -> torch.Tensor:
    """Our S_upper = −oft_R.weight; with COFT, projected as peft's forward pass projects it."""
    layer = model.get_submodule(module)
    if not layer.coft:
        return -value
    S = layer.S_upper.detach().clone()
    with torch.no_grad():
        layer.S_upper.copy_(-value)
        layer.project()
        projected = layer.S_upper.detach().clone()
        layer.S_upper.copy_(S)
    return projected


# The lab (all-MiniLM-L6-v2, query and value, batch 16; d = 384 = 12 blocks of 32, 71,424 numbers,
# about LoRA r = 8's 73,728), measured at load average ~5-10 on the shared 2-core CPU, 100 steps:
# lr 2e-3 (LoRA's rate): 100 % test accuracy (56.2 % at step 25, 99.2 % at 50, 97.1 % at 75), 132 s CPU;
# lr 5e-3: 99.6 % (50 % at 25, 70.8 % at 50, 97.1 % at 75), 218 s CPU; lr 1e-2 stayed at 50 %.
# 80 steps (97.1 % at 75 above) were the default while the model's own dropout was on.
# Measured at stop 26 (`train(defaults(...))`, seeds 0-2, model dropout off, load 1.3-2.3):
# 70 steps reach 90 % by step 20-35, 97.9-98.8 % at the end, 13.3-14.6 s wall; 80 steps had taken 15.7 s
# in benchmarks/bench_lab.py --all.
LAB = LabDefaults(lr=2e-3, steps=70, config=Config(block_size=32))
# The page and the Compare race: the toy layer has d_in = 24, so blocks of 8: three 8 × 8
# rotations, 3 · 28 = 84 numbers (a single 24 × 24 block would be 276). The race's rate
# (scripts/measure_race_lrs.py, final loss after 30 steps): 0.003: 0.859, 0.01: 0.526, 0.03: 0.467,
# 0.1: 0.458 on one machine and 0.485 on another (AMD EPYC, 2026-12-02; the other rates agree to
# 3 digits), so 0.03: at 0.1 the Cayley solves amplify the CPU's rounding (LoRA at 0.03: 0.482).
LESSON = LessonDefaults("layer", Config(block_size=8),
                        note="OFT turns every neuron (row of W₀) by the same block-diagonal rotation R: "
                             "lengths and angles between neurons stay as they were.", race_lr=0.03)


# ---------------------------------------------------------------- the method page
def watch(model: nn.Module) -> list[Watched]:
    """W0, the skew-symmetric S (its upper triangle trains), R, W0 Rᵀ and the change W' − W0."""
    layer = first_target(model)
    return [Watched("W0", "W₀", "frozen", "d_out", "d_in", lambda: base_weight(layer.base)),
            Watched("S", "S (block-diagonal, skew: Sᵀ = −S)", "trainable", "d_in", "d_in",
                    lambda: torch.block_diag(*layer.skew_blocks())),
            Watched("R", "R = (I + S)(I − S)⁻¹", "delta", "d_in", "d_in", layer.rotation),
            Watched("W", "W₀ Rᵀ = weight()", "delta", "d_out", "d_in", layer.weight),
            Watched("dW", "W₀ Rᵀ − W₀ = delta_weight()", "delta", "d_out", "d_in", layer.delta_weight)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """R's gradient needs each wrapped layer's input x (the rotated x is only needed for W0's
    gradient, which is frozen): LoRA's input, without its r values per token."""
    return wrapping_profile(shape, targets, keeps_input=True, per_layer=0)
