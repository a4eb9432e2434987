"""VeRA: Vector-based Random Matrix Adaptation (Kopiczko et al., 2023, arXiv 2310.11454).

    h = W0 x + Λ_b B Λ_d A x

A (r, d_in) and B (d_out, r) are random, frozen, and ONE pair serves every adapted layer
of the model (§3.1); each layer learns only the diagonals b (d_out, init 0, so h = W0 x
at step 0) and d (r, init 0.1) (§3.2). As in Hugging Face peft, the pair is drawn once at
the largest d_in and d_out among the targets, and each layer uses its top-left slice.
A and B are buffers (regenerated from a seed), not parameters.
Trainable per layer: d_out + r.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched, lora
from peft_edu.methods.layers import factory_kwargs, first_target, linear_shape, wrap_targets
from peft_edu.sizing.profile import ActivationProfile, ModelShape, wrapping_profile

USES_TARGETS = True
PEFT_NAMES = {"b": "vera_lambda_b", "d": "vera_lambda_d"}  # + base_model.vera_A / vera_B once


@dataclass(frozen=True)
class Config:
    r: int = 256  # rank of the shared random pair (peft default 256; VeRA needs a large r)
    d_initial: float = 0.1  # initial value of every entry of d (paper §3.2, peft default)
    projection_seed: int = 0  # seed of the shared A and B (peft's projection_prng_key)
    dropout: float = 0.0  # dropout on the input of the low-rank path

    def __post_init__(self) -> None:
        lora.check_rank(self.r)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# VeRA moves the model through few numbers, so a large rate. scripts/measure_lab_defaults.py
# (whole test split every 10 steps, seed 0): lr 1e-2 52 % after 100 steps, 97 % after 150;
# 2e-2 91 % at step 80; 4e-2 95 % at step 60, 96.7 % at 70, 97.5 % at 90. 75 steps keep the
# default run under 15 s (a step is ~1.3 LoRA steps).
LAB = LabDefaults(lr=4e-2, steps=75, config=Config(r=256))


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return d_out + cfg.r  # b and d; A and B are shared buffers


def _kaiming_uniform(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)): Kaiming-uniform with ReLU gain, fan_in = shape[1]."""
    bound = math.sqrt(6.0 / shape[1])
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


class VeRAShared(nn.Module):
    """The model's one frozen random pair: vera_A (r, d_in_max), vera_B (d_out_max, r)."""

    def __init__(self, r: int, d_in: int, d_out: int, seed: int, device=None, dtype=None) -> None:
        super().__init__()
        if torch.device(device or "cpu").type == "meta":  # shapes only (counting)
            A, B = torch.empty(r, d_in, device="meta"), torch.empty(d_out, r, device="meta")
        else:  # same draw order as peft: A first, then B, from one seeded CPU generator
            g = torch.Generator(device="cpu").manual_seed(seed)
            A, B = _kaiming_uniform((r, d_in), g), _kaiming_uniform((d_out, r), g)
        self.register_buffer("vera_A", A.to(device=device, dtype=dtype))
        self.register_buffer("vera_B", B.to(device=device, dtype=dtype))


class VeRALinear(nn.Module):
    """Wraps frozen W0; adds b ⊙ B (d ⊙ A x) with the model's shared A, B."""

    def __init__(self, base: nn.Module, shared: VeRAShared, cfg: Config) -> None:
        super().__init__()
        self.base = base  # frozen W0
        self.d_out, self.d_in = linear_shape(base)
        self.r = cfg.r
        self._shared = (shared,)  # a tuple, so the pair is not registered (and saved) once per layer
        like = factory_kwargs(base)
        self.d = nn.Parameter(torch.full((cfg.r,), cfg.d_initial, **like))  # (r,): Λ_d
        self.b = nn.Parameter(torch.zeros(self.d_out, **like))  # (d_out,): Λ_b, zero => h = W0 x
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.merged = False

    @property
    def A(self) -> torch.Tensor:
        return self._shared[0].vera_A[:, : self.d_in]  # (r, d_in) slice of the shared A

    @property
    def B(self) -> torch.Tensor:
        return self._shared[0].vera_B[: self.d_out, :]  # (d_out, r) slice of the shared B

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # (..., d_out)
        if self.merged:
            return h
        z = self.d * F.linear(self.dropout(x), self.A)  # (..., r): Λ_d A x
        return h + self.b * F.linear(z, self.B)  # (..., d_out): + Λ_b B Λ_d A x

    def delta_weight(self) -> torch.Tensor:
        """ΔW = Λ_b B Λ_d A, shape (d_out, d_in)."""
        return (self.b[:, None] * self.B) @ (self.d[:, None] * self.A)

    merge = lora.LoRALinear.merge  # W0 <- W0 + ΔW, the same code as LoRA's
    unmerge = lora.LoRALinear.unmerge


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Draw the shared pair at the largest target shape, attach it once, wrap the targets."""
    shapes = [linear_shape(model.get_submodule(n)) for n in arch.targets]
    like = factory_kwargs(model.get_submodule(arch.targets[0]))
    shared = VeRAShared(cfg.r, max(s[1] for s in shapes), max(s[0] for s in shapes),
                        cfg.projection_seed, **like)
    model.vera_shared = shared  # registered once, at the root: moves with .to(), saved once
    wrap_targets(model, arch.targets, lambda base: VeRALinear(base, shared, cfg))


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's VeraConfig keys; ``save_projection``: the shared pair is in the file too."""
    return {"target_modules": list(arch.targets), "fan_in_fan_out": arch.fan_in_fan_out, "bias": "none",
            "r": cfg.r, "d_initial": cfg.d_initial, "projection_prng_key": cfg.projection_seed,
            "save_projection": True, "vera_dropout": cfg.dropout}


def peft_options(config: dict) -> dict:
    """Our Config's values from a peft VeraConfig."""
    return {"r": config["r"], "d_initial": config.get("d_initial", 0.1),
            "projection_seed": config.get("projection_prng_key", 0), "dropout": config.get("vera_dropout", 0.0)}


def peft_model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The shared pair, once per model: peft keeps it on its tuner, hence ``base_model.`` alone."""
    return {"base_model.vera_A": model.vera_shared.vera_A, "base_model.vera_B": model.vera_shared.vera_B}


def from_peft_model_tensor(model: nn.Module, key: str, value: torch.Tensor) -> dict[str, torch.Tensor] | None:
    if not key.startswith("base_model.vera_"):
        return None
    return {"vera_shared." + key.rsplit(".", 1)[1]: value}


# ---------------------------------------------------------------- the method page
# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=16), race_lr=0.1)  # the Compare race: r = d of the tiny BERT (VeRA needs a large r)


def watch(model: nn.Module) -> list[Watched]:
    """W0, the shared random B and A (frozen), the trained vectors d and b, and ΔW."""
    layer = first_target(model)
    return [Watched("W0", "W₀", "frozen", "d_out", "d_in", lambda: layer.base.weight),
            Watched("B", "B (shared, random)", "frozen", "d_out", "r", lambda: layer.B),
            Watched("A", "A (shared, random)", "frozen", "r", "d_in", lambda: layer.A),
            Watched("d", "d", "trainable", "r", "1", lambda: layer.d),
            Watched("b", "b", "trainable", "d_out", "1", lambda: layer.b),
            Watched("dW", "ΔW = delta_weight()", "delta", "d_out", "d_in", layer.delta_weight)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """A and B are frozen random buffers, so x is not kept; Λ_d's input A·x (r values per
    token) and Λ_b's input (d_out values) are."""
    return wrapping_profile(shape, targets, keeps_input=False, per_layer=cfg.r, per_output=1)
