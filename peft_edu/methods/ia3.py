"""(IA)³ — Liu et al., 2022, arXiv 2205.05638 (§3.3).

"Infused Adapter by Inhibiting and Amplifying Inner Activations": three learned vectors
per block rescale, element by element, the attention keys, the attention values and the
input of the feed-forward down-projection:

    k = l_k ⊙ (W_k x),    v = l_v ⊙ (W_v x),    h = W_down (l_ff ⊙ a)

Trainable parameters: d_out for a key or value projection, d_in for the FFN
down-projection; L · (2 d_kv + d_ff) for a model. All vectors start at ones, so the model
starts exactly as the base. Scaling is linear, so it folds into the weights (``merge``):
rows of W_k, W_v (and their biases) and columns of W_down get multiplied by l.

Placement (the paper's): BERT/RoBERTa ``key``, ``value`` and the FFN ``output.dense``;
GPT-2 the key and value thirds of the fused ``c_attn`` and ``mlp.c_proj``; Llama/Mistral
``k_proj``, ``v_proj``, ``down_proj``. Two differences from Hugging Face ``peft``'s defaults:
for BERT, peft's pattern "output.dense" also catches the attention output projection;
for GPT-2, peft scales all of ``c_attn``, queries included (3d per layer instead of 2d).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.models import arch_of
from peft_edu.sizing.profile import ActivationProfile, ModelShape

@dataclass(frozen=True)
class Config:
    """(IA)³ has no size knob: where the vectors go is fixed by the paper, and they start at 1."""


USES_TARGETS = False  # the paper fixes where the vectors go: keys, values, FFN input
PEFT_NAMES = {"l": "ia3_l"}  # peft's shape: (d_out, 1) for k, v; (1, d_in) for the FFN

# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 94.2 % at step 70,
# 97.5 % at 80, 100 % at 100.
LAB = LabDefaults(lr=1e-2, steps=80)


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    """d_out for a key or value projection, whose output it scales (the FFN down-projection's
    vector scales its input instead: d_in, counted by ``model_params``)."""
    return d_out


def model_params(arch, cfg: Config) -> int:
    """L · (2 d_kv + d_ff): l_k and l_v of width d_kv, l_ff of width d_ff, in every block."""
    return arch.n_layers * (2 * arch.d_kv + arch.d_ff)


def feature_axis(base: nn.Module, side: str) -> int:
    """Axis of ``base.weight`` that indexes output ("out") or input ("in") features."""
    transposed = isinstance(base, Conv1D)  # GPT-2 stores W as (d_in, d_out)
    return (1 if transposed else 0) if side == "out" else (0 if transposed else 1)


class IA3(nn.Module):
    """Wraps a frozen linear layer and rescales its output (k, v) or its input (FFN) by l."""

    def __init__(self, base: nn.Module, side: str, skip: int = 0):
        super().__init__()
        self.base = base  # frozen W (nn.Linear or GPT-2's Conv1D)
        self.side = side  # "out": l ⊙ (W x + b);  "in": W (l ⊙ x) + b
        self.skip = skip  # leading output features left alone (the queries of GPT-2's fused c_attn)
        size = base.weight.shape[feature_axis(base, side)] - skip
        self.l = nn.Parameter(torch.ones(size, device=base.weight.device))  # (d_out - skip,) or (d_in,)
        self.merged = False

    def scale(self) -> torch.Tensor:
        """The full scaling vector, ones over the skipped features."""
        if self.skip == 0:
            return self.l
        return torch.cat([self.l.new_ones(self.skip), self.l])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        if self.side == "in":
            return self.base(x * self.scale().to(x.dtype))  # W (l_ff ⊙ a)
        y = self.base(x)
        return y * self.scale().to(y.dtype)  # l ⊙ (W x + b)

    @torch.no_grad()
    def _rescale(self, s: torch.Tensor) -> None:
        shape = [1, 1]
        shape[feature_axis(self.base, self.side)] = -1
        self.base.weight.mul_(s.view(shape).to(self.base.weight.dtype))
        if self.side == "out" and self.base.bias is not None:
            self.base.bias.mul_(s.to(self.base.bias.dtype))

    def merge(self) -> None:
        """Fold l into W (and b for k, v): no extra cost at inference."""
        if not self.merged:
            self._rescale(self.scale().detach())
            self.merged = True

    def unmerge(self) -> None:
        """Undo ``merge`` by dividing by l (exact up to rounding while no entry of l is 0)."""
        if self.merged:
            self._rescale(1.0 / self.scale().detach())
            self.merged = False


def placement(arch) -> list[tuple[str, str, int]]:
    """(module name, side, skip) of every layer (IA)³ wraps, block by block (§3.3)."""
    if arch.family not in ("bert", "gpt2", "llama"):
        raise ValueError(f"(IA)³ supports BERT-, GPT-2- and Llama-family models, not {arch.family!r}")
    skip = arch.d_model if arch.family == "gpt2" else 0  # GPT-2's c_attn = [q | k | v]: leave q alone
    places = []
    for i in range(arch.n_layers):
        for rel in dict.fromkeys((arch.k, arch.v)):  # GPT-2: k and v are the same fused layer
            places.append((arch.block_path(i, rel), "out", skip))
        places.append((arch.block_path(i, arch.ffn_out), "in", 0))
    return places


def inject(model: nn.Module, cfg: Config, arch=None) -> None:
    """Wrap the key, value and FFN down-projections of every block (model already frozen)."""
    arch = arch or arch_of(model)
    if any(isinstance(m, IA3) for m in model.modules()):
        raise ValueError("(IA)³ is already applied to this model")
    for name, side, skip in placement(arch):
        model.set_submodule(name, IA3(model.get_submodule(name), side, skip))


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's IA3Config keys: the wrapped layers, and which of them scale inputs (the FFN's)."""
    layers = {name: m for name, m in model.named_modules() if isinstance(m, IA3)}
    return {"target_modules": list(layers), "fan_in_fan_out": arch.fan_in_fan_out, "init_ia3_weights": True,
            "feedforward_modules": [name for name, m in layers.items() if m.side == "in"]}


def peft_options(config: dict) -> dict:
    return {}  # no knobs: the placement is the paper's


def to_peft(model: nn.Module, module: str, name: str) -> torch.Tensor:
    """peft's ia3_l: the whole vector (ones over GPT-2's queries), a column (d_out, 1) when it
    scales outputs (k, v), a row (1, d_in) when it scales inputs (the FFN)."""
    layer = model.get_submodule(module)
    return layer.scale().view((-1, 1) if layer.side == "out" else (1, -1))


def from_peft(model: nn.Module, module: str, name: str, value: torch.Tensor) -> torch.Tensor:
    """peft's ia3_l as our l; peft can scale layers (and GPT-2's queries) that ours leaves alone."""
    layer = dict(model.named_modules()).get(module)
    if not isinstance(layer, IA3):
        raise ValueError(f"this (IA)³ adapter scales {module}, which peft_edu's (IA)³ (the paper's "
                         "keys, values and FFN inputs) does not")
    value = value.flatten()
    if layer.skip and not torch.all(value[: layer.skip] == 1):
        raise ValueError(f"this (IA)³ adapter scales the queries of {module}; peft_edu's scales keys and values only")
    return value[layer.skip:]


# ---------------------------------------------------------------- the method page
# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("transformer", race_lr=0.1)


def watch(model: nn.Module) -> list[Watched]:
    """l_k, l_v and l_ff of every block (vectors, drawn as columns)."""
    arch = model.peft_edu_applied.arch
    views = []
    for i in range(arch.n_layers):
        for name, rel, rows in (("l_k", arch.k, "d"), ("l_v", arch.v, "d"), ("l_ff", arch.ffn_out, "d_ff")):
            layer = model.get_submodule(arch.block_path(i, rel))
            views.append(Watched(f"{name}{i}", f"{name} block {i}", "trainable", rows, "1", lambda m=layer: m.l))
    return views


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """Each l's gradient needs what it scales: the unscaled keys and values (2·h_kv values
    per token) and the FFN activation (f)."""
    return ActivationProfile(extra_per_token=2 * shape.kv_dim + shape.d_ff)
