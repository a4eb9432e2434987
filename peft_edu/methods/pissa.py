"""PiSSA: Principal Singular Values and Singular Vectors Adaptation of Large Language
Models (Meng, Wang and Zhang, 2024, arXiv 2404.02948).

    W0 = U S Vᵀ                                        (SVD, singular values falling)
    A = sqrt(S_r / s) V_rᵀ      (r, d_in)              the top r directions
    B = U_r sqrt(S_r / s)       (d_out, r)
    W_res = W0 − s · B A        (d_out, d_in), frozen  the remaining directions
    h = W_res x + s · B A x     = W0 x at step 0

LoRA's layer and count (r · (d_in + d_out)), with a different start: instead of B = 0 and
a random A, "PiSSA initializes the adapter with the principal singular values and
singular vectors of W and freezes the residual" (§1, §3). The trainable part is the most
important part of W, so the first steps change what matters most and the loss falls faster
than LoRA's, which starts by learning in the directions of a random A (§4). The forward
pass equals the base at step 0, as with LoRA, but the base weight itself is replaced by
W_res. s is LoRA's scaling alpha / r; the paper sets alpha = r, s = 1. The paper's fast
randomised SVD (§3, peft's "pissa_niter_k") is left out: this module takes the exact SVD.

On disk: peft's LORA with ``init_lora_weights = "pissa"``: peft, given the unmodified
base, repeats the SVD and subtracts the same B0 A0, then loads our trained A, B. For a base
that must stay unmodified, ``as_lora`` turns the adapter into a plain LoRA of rank 2r: the
total change s (B A − B0 A0) = s [B, B0] [A; −A0] (REFERENCE.md, as peft's conversion).
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
PEFT_NAMES = lora.PEFT_NAMES  # saved as LoRA, with init_lora_weights = "pissa"


@dataclass(frozen=True)
class Config:
    r: int = 8  # rank: the number of principal singular directions that train (peft default 8)
    alpha: float = 8.0  # scaling s = alpha / r; the paper uses alpha = r, s = 1
    dropout: float = 0.0  # dropout on the input of the low-rank path (the paper uses none)

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def layer_config(cfg: Config) -> lora.Config:
    return lora.Config(r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout)


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return cfg.r * (d_in + d_out)  # A: r·d_in, B: d_out·r, as LoRA


@torch.no_grad()
def principal_factors(W0: torch.Tensor, r: int, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) from the top-r SVD of W0 (d_out, d_in), in float32: s · B A = U_r S_r V_rᵀ.

    W0 has only k = min(d_out, d_in) singular directions; for r > k the extra rows of A and
    columns of B are zero, and they stay zero in training (each one's gradient needs the
    other), so the adapter acts with rank k."""
    U, S, Vh = torch.linalg.svd(W0.float(), full_matrices=False)  # U (d_out, k), S (k,), Vh (k, d_in)
    root = torch.sqrt(S[:r] / s)  # (min(r, k),): sqrt(S_r / s), shared by A and B
    A = root[:, None] * Vh[:r]  # (min(r, k), d_in)
    B = U[:, :r] * root[None, :]  # (d_out, min(r, k))
    missing = r - root.numel()
    if missing > 0:
        A = torch.cat([A, A.new_zeros(missing, A.shape[1])], dim=0)  # (r, d_in)
        B = torch.cat([B, B.new_zeros(B.shape[0], missing)], dim=1)  # (d_out, r)
    return A, B


@torch.no_grad()
def init_from_svd(layer: LoRALinear) -> None:
    """Set A, B to W0's principal part and W0 to the residual W_res = W0 − s · B A.

    The initial factors stay on the layer as buffers A0, B0 (they do not train): ``as_lora``
    needs them to express the change against the unmodified W0."""
    W = base_weight(layer.base)  # (d_out, d_in) view of the base's own storage
    if W.device.type == "meta":  # counting builds on "meta": shapes only, nothing to decompose
        A, B = torch.empty_like(layer.A), torch.empty_like(layer.B)
    else:
        A, B = principal_factors(W, layer.r, layer.scaling)
        W.copy_((W.float() - layer.scaling * (B @ A)).to(W.dtype))  # W_res: the remaining directions
    layer.A.copy_(A)
    layer.B.copy_(B)
    layer.register_buffer("A0", A.to(layer.A.dtype).clone(), persistent=False)  # (r, d_in)
    layer.register_buffer("B0", B.to(layer.B.dtype).clone(), persistent=False)  # (d_out, r)


def make_layer(base: nn.Module, cfg: Config) -> LoRALinear:
    if not base.weight.is_floating_point():
        raise ValueError("PiSSA needs a full-precision weight to decompose; quantize the residual afterwards")
    layer = LoRALinear(base, layer_config(cfg))
    init_from_svd(layer)
    return layer


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Wrap every target in a LoRA layer started from its principal singular directions."""
    wrap_targets(model, arch.targets, lambda base: make_layer(base, cfg))


def change(layer: LoRALinear) -> torch.Tensor:
    """The change to the pretrained weight, s (B A − B0 A0) (d_out, d_in): 0 at step 0."""
    return layer.delta_weight() - layer.scaling * (layer.B0 @ layer.A0)


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's LoraConfig with init_lora_weights "pissa" (exact SVD, as here)."""
    return {**lora.peft_config(layer_config(cfg), arch, model), "init_lora_weights": "pissa"}


def peft_options(config: dict) -> dict | None:
    """Our Config from a peft PiSSA config; None for any other LoRA (plain, rsLoRA, DoRA, fast SVD)."""
    if config.get("init_lora_weights") != "pissa" or config.get("use_dora") or config.get("use_rslora"):
        return None
    return {"r": config["r"], "alpha": float(config["lora_alpha"]), "dropout": config.get("lora_dropout", 0.0)}


def lora_factors(layer: LoRALinear) -> tuple[torch.Tensor, torch.Tensor]:
    """(A2, B2) of rank 2r with s · B2 A2 = s (B A − B0 A0): A2 = [A; −A0], B2 = [B, B0]."""
    A2 = torch.cat([layer.A.detach(), -layer.A0], dim=0)  # (2r, d_in)
    B2 = torch.cat([layer.B.detach(), layer.B0], dim=1)  # (d_out, 2r)
    return A2, B2


@torch.no_grad()
def as_lora(model: nn.Module, base: nn.Module) -> nn.Module:
    """A plain LoRA on ``base`` (the unmodified pretrained model) equal to the PiSSA
    ``model``: rank 2r, alpha 2·alpha (same scaling s), the same targets and head."""
    from peft_edu.inject import applied, apply

    info = applied(model)
    cfg = info.config
    out = apply(base, "lora", r=2 * cfg.r, alpha=2 * cfg.alpha, dropout=cfg.dropout,
                targets=list(info.arch.targets), train_head=info.train_head)
    for name in info.arch.targets:
        A2, B2 = lora_factors(model.get_submodule(name))
        out.get_submodule(name).A.copy_(A2)
        out.get_submodule(name).B.copy_(B2)
    for head in info.arch.head if info.train_head else ():
        out.get_submodule(head).load_state_dict(model.get_submodule(head).state_dict())
    return out


# The lab (all-MiniLM-L6-v2, query and value, batch 16), measured at load average ~6 on the
# shared 2-core CPU: 98.3 % test accuracy at step 100 (80 % at step 75), 194 s CPU. The
# factors start large (sqrt of W's top singular values), so the step was chosen a quarter of
# LoRA's 2e-3 (LoRA's rate itself was not tried for PiSSA).
# Measured at stop 26 (`train(defaults(...))`, seeds 0-2, model dropout off, load 1.3-2.3):
# 85 steps reach 90 % by step 55-65, 95.8-98.8 % at the end, 13.2-15.9 s wall; 100 steps had taken 16.4 s
# in benchmarks/bench_lab.py --all.
LAB = LabDefaults(lr=5e-4, steps=85, config=Config(r=8, alpha=8.0))
# The page and the Compare race: r = 4, alpha = 4 (scaling 1, the paper's choice).
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0),
                        note="PiSSA starts from W's top-r singular directions: B·A is not zero at step 0, "
                             "W_res holds the rest.", race_lr=0.03)


# ---------------------------------------------------------------- the method page
def watch(model: nn.Module) -> list[Watched]:
    """W_res, B, A, the adapter's s·B·A and the change to W0 (zero at step 0)."""
    layer = first_target(model)
    return [Watched("W_res", "W_res = W₀ − s·B₀A₀", "frozen", "d_out", "d_in", lambda: base_weight(layer.base)),
            Watched("B", "B", "trainable", "d_out", "r", lambda: layer.B),
            Watched("A", "A", "trainable", "r", "d_in", lambda: layer.A),
            Watched("dW", "s·B·A = delta_weight()", "delta", "d_out", "d_in", layer.delta_weight),
            Watched("change", "change to W₀ = s(BA − B₀A₀)", "delta", "d_out", "d_in", lambda: change(layer))]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA's tensors: only the initialisation differs."""
    return lora.activation_profile(shape, cfg, targets)
