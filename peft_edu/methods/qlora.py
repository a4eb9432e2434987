"""QLoRA: Efficient Finetuning of Quantized LLMs (Dettmers et al., 2023, arXiv 2305.14314).

    h = dequant_NF4(W0) x + (alpha / r) · B A x

Every frozen linear layer of the model (all but the task head, as bitsandbytes' 4-bit
loading does) is stored in 4-bit NormalFloat with double-quantized block constants
(``peft_edu.nf4``) and dequantized to full precision on each forward pass (§3); LoRA
adapters in full precision train on top of the target layers. Gradients flow through the
dequantized weights into B and A only.
Trainable per layer: r · (d_in + d_out), like LoRA. Not mergeable: adding B A into W0
would need the 4-bit weights to be quantized again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peft_edu import nf4
from peft_edu.methods import LabDefaults, LessonDefaults, lora
from peft_edu.methods.layers import base_weight, first_target, linear_modules, linear_shape
from peft_edu.methods.lora import LoRALinear
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = True
PEFT_NAMES = lora.PEFT_NAMES  # saved as plain LoRA; the base is quantized again on loading
peft_config = lora.peft_config  # a LoraConfig (blocksize and double_quant stay in our metadata)


@dataclass(frozen=True)
class Config(lora.Config):
    blocksize: int = 64  # weights per absmax constant (QLoRA §3: 64)
    double_quant: bool = True  # store the constants in 8 bits, blocks of 256 (§3)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.blocksize < 2 or self.blocksize % 2:
            raise ValueError(f"blocksize must be an even integer >= 2, got {self.blocksize}")


# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 97.1 % at step 50,
# 98-99 % after; NF4 dequantisation makes a step ~1.2 LoRA steps.
# Measured at stop 27 (``train(defaults("qlora", steps=55))``, seeds 0-2, load 1.7-1.8): 90 % after
# 5.4-9.0 s, 97.9-98.8 % at the end, 10.9-11.2 s wall; 70 steps had taken 16.8 s in bench_lab.py --all.
LAB = LabDefaults(lr=2e-3, steps=55, config=Config(r=8, alpha=16.0))


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return lora.layer_params(d_out, d_in, cfg)


class NF4Linear(nn.Module):
    """A frozen linear layer whose W0 (d_out, d_in) is stored as packed NF4 codes."""

    def __init__(self, linear: nn.Module, blocksize: int = 64, double_quant: bool = True) -> None:
        super().__init__()
        self.out_features, self.in_features = linear_shape(linear)
        self.blocksize, self.double_quant = blocksize, double_quant
        W0 = base_weight(linear).detach()  # (d_out, d_in), also for GPT-2's transposed Conv1D
        self.compute_dtype = W0.dtype  # dequantize back to the original precision
        packed, absmax = _quantize(W0, blocksize)
        self.register_buffer("packed", packed)  # (d_out·d_in / 2,) uint8: two codes per byte
        if double_quant:
            q, scale, offset = _quantize_absmax(absmax)
            self.register_buffer("absmax_q", q)  # (n_blocks,) int8
            self.register_buffer("absmax_scale", scale)  # (n_blocks / 256,) float32
            self.register_buffer("absmax_offset", offset)  # () float32: the mean subtracted
        else:
            self.register_buffer("absmax", absmax)  # (n_blocks,) float32
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)

    def weight(self) -> torch.Tensor:
        """W0 dequantized, (d_out, d_in), in the compute dtype."""
        absmax = self.absmax if not self.double_quant else nf4.dequantize_absmax(
            self.absmax_q, self.absmax_scale, self.absmax_offset)
        shape = (self.out_features, self.in_features)
        return nf4.dequantize_nf4(self.packed, absmax, shape, self.blocksize).to(self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight().to(x.dtype), self.bias)

    @property
    def n_weights(self) -> int:
        """Weights held in 4 bits (counted by ``total_parameters``: they are buffers, not parameters)."""
        return self.out_features * self.in_features

    def storage_bytes(self) -> int:
        """True bytes of the quantized W0: packed codes plus block constants (bias excluded)."""
        return sum(b.numel() * b.element_size() for b in self.buffers())

    def extra_repr(self) -> str:
        return f"d_in={self.in_features}, d_out={self.out_features}, nf4, blocksize={self.blocksize}"


def _quantize(W0: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    if W0.is_meta:  # counting: shapes only
        n = W0.numel()
        return (torch.empty(-(-n // 2), dtype=torch.uint8, device="meta"),
                torch.empty(-(-n // blocksize), device="meta"))
    return nf4.quantize_nf4(W0, blocksize)


def _quantize_absmax(absmax: torch.Tensor):
    if absmax.is_meta:
        n = absmax.numel()
        return (torch.empty(n, dtype=torch.int8, device="meta"),
                torch.empty(-(-n // 256), device="meta"), torch.empty((), device="meta"))
    return nf4.quantize_absmax(absmax)


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Quantize every linear layer outside the head to NF4; LoRA on the targets."""
    for name, layer in linear_modules(model, arch).items():
        quantized = NF4Linear(layer, cfg.blocksize, cfg.double_quant)
        model.set_submodule(name, LoRALinear(quantized, cfg) if name in arch.targets else quantized)


def storage_bytes(model: nn.Module) -> int:
    """Bytes of all NF4-stored weights in ``model``."""
    return sum(m.storage_bytes() for m in model.modules() if isinstance(m, NF4Linear))


# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("layer", Config(r=4, alpha=4.0), race_lr=0.03)  # alpha = r: scaling 1


def watch(model: nn.Module) -> list:
    """LoRA's tensors; W0 is read back from its 4-bit codes."""
    layer = first_target(model)
    return [dataclasses.replace(v, title="W₀ (NF4, dequantized)", read=layer.base.weight) if v.name == "W0" else v
            for v in lora.watch(model)]


# ---------------------------------------------------------------- the calculator
NF4_BASE = True  # the frozen block linear layers are stored in NF4, whatever the rest trains in


def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """LoRA's tensors: the NF4 base is frozen and keeps nothing of its own."""
    return lora.activation_profile(shape, cfg, targets)
