"""QLoRA's lesson: NF4 on real pretrained weights (QLoRA, Dettmers et al., 2023, arXiv 2305.14314).

The weights are one attention matrix of all-MiniLM-L6-v2 (the pretrained model the app
ships, read straight from its safetensors file). Where that package is missing the lesson
falls back, and says so, to normally distributed weights of the same shape.

Everything is computed with ``peft_edu.nf4`` (the code QLoRA's layer uses):
- where the 16 NF4 levels sit against the block-normalised weights w / absmax;
- the round-trip error of NF4, with float32 block constants and with double quantization,
  next to a plain 4-bit integer grid (16 evenly spaced levels) on the same blocks;
- bytes of the weights in 16 bits and in NF4 for whole models (``peft_edu.sizing.memory``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from peft_edu import nf4
from peft_edu.sizing.memory import ParamCounts, nf4_bits_per_weight, precision, weight_bytes

WEIGHT_NAME = "encoder.layer.0.attention.self.query.weight"  # 384 × 384 = 147,456 weights
BLOCK = 64  # weights per absmax constant (QLoRA §3)
INT4_LEVELS = np.linspace(-1.0, 1.0, 16)  # a uniform 4-bit grid over [-1, 1], for comparison


@dataclass(frozen=True)
class RealWeights:
    values: np.ndarray  # (d_out, d_in) float32
    source: str  # where they come from, shown under the figure
    real: bool  # False when the pretrained model was not available


def real_weights(name: str = WEIGHT_NAME) -> RealWeights:
    """One weight matrix of all-MiniLM-L6-v2, or a clearly labelled normal fallback."""
    try:
        from safetensors import safe_open

        from peft_edu.models import minilm_dir

        with safe_open(str(minilm_dir() / "model.safetensors"), framework="pt") as f:
            W = f.get_tensor(name).float()
        return RealWeights(W.numpy(), f"all-MiniLM-L6-v2, {name} ({W.shape[0]}×{W.shape[1]})", True)
    except (ImportError, OSError, KeyError, RuntimeError, ValueError) as err:
        gen = torch.Generator().manual_seed(0)
        W = torch.randn(384, 384, generator=gen) * 0.05
        return RealWeights(W.numpy(), f"FALLBACK: N(0, 0.05²) random weights, 384×384 — the pretrained "
                                      f"model could not be read ({type(err).__name__})", False)


def block_normalised(W: np.ndarray, blocksize: int = BLOCK) -> np.ndarray:
    """w / absmax of its block of ``blocksize``: the numbers NF4 rounds to its 16 levels."""
    w = W.reshape(-1).astype(np.float32)
    w = np.pad(w, (0, -w.size % blocksize))
    blocks = w.reshape(-1, blocksize)
    absmax = np.abs(blocks).max(axis=1, keepdims=True)
    return (blocks / np.where(absmax > 0, absmax, 1.0)).reshape(-1)[: W.size]


def int4_roundtrip(W: torch.Tensor, blocksize: int = BLOCK) -> torch.Tensor:
    """The same blocks and absmax as NF4, but 16 evenly spaced levels instead of normal quantiles."""
    w = W.reshape(-1)
    blocks = torch.nn.functional.pad(w, (0, -w.numel() % blocksize)).view(-1, blocksize)
    absmax = blocks.abs().max(dim=1, keepdim=True).values.clamp(min=1e-38)
    levels = torch.tensor(INT4_LEVELS, dtype=w.dtype)
    idx = (blocks / absmax).unsqueeze(-1).sub(levels).abs().argmin(dim=-1)
    return (levels[idx] * absmax).reshape(-1)[: w.numel()].reshape(W.shape)


def nf4_roundtrip(W: torch.Tensor, double_quant: bool, blocksize: int = BLOCK) -> torch.Tensor:
    """Quantize to NF4 and back, with float32 or double-quantized block constants."""
    packed, absmax = nf4.quantize_nf4(W, blocksize)
    if double_quant:
        absmax = nf4.dequantize_absmax(*nf4.quantize_absmax(absmax))
    return nf4.dequantize_nf4(packed, absmax, W.shape, blocksize)


@dataclass(frozen=True)
class QuantError:
    label: str  # e.g. "NF4 + double quantization"
    bits_per_weight: float  # storage cost, constants included
    rmse: float  # root mean squared error of the round trip
    mean_abs: float  # mean |w − w_q|
    relative: float  # ‖W − W_q‖_F / ‖W‖_F


def _error(label: str, bits: float, W: torch.Tensor, Wq: torch.Tensor) -> QuantError:
    diff = (W - Wq).double()
    return QuantError(label, bits, float(diff.pow(2).mean().sqrt()), float(diff.abs().mean()),
                      float(diff.norm() / W.double().norm()))


def quantization_errors(W: np.ndarray) -> list[QuantError]:
    """Round-trip error of 4-bit int, NF4 and NF4 with double quantization on the same W."""
    t = torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32))
    return [
        _error("4-bit integer grid (same blocks)", 4 + 32 / BLOCK, t, int4_roundtrip(t)),
        _error("NF4, float32 block constants", nf4_bits_per_weight(False), t, nf4_roundtrip(t, False)),
        _error("NF4 + double quantization", nf4_bits_per_weight(True), t, nf4_roundtrip(t, True)),
    ]


@dataclass(frozen=True)
class NF4Lesson:
    weights: RealWeights
    normalised: np.ndarray  # w / absmax of every weight (for the histogram)
    levels: np.ndarray  # the 16 NF4 levels
    derived_levels: np.ndarray  # the same levels recomputed from normal quantiles
    errors: list[QuantError]


def nf4_lesson() -> NF4Lesson:
    W = real_weights()
    return NF4Lesson(W, block_normalised(W.values), nf4.NF4_CODE.numpy().copy(),
                     nf4.normal_float_levels().numpy(), quantization_errors(W.values))


# ---------------------------------------------------------------- memory of whole models
MEMORY_PRESETS = ("all-MiniLM-L6-v2", "Llama-2-7B", "Llama-2-13B", "Llama-2-70B")


@dataclass(frozen=True)
class WeightMemory:
    model: str
    n_params: int  # all parameters of the base model
    linear: int  # the blocks' linear weights (what NF4 stores)
    bytes_16: float  # every weight in 16 bits
    bytes_nf4: float  # linear weights in NF4 + double quantization, the rest in 16 bits


def weight_memory(model: str) -> WeightMemory:
    """Bytes of a model's weights in 16 bits vs QLoRA's storage (``peft_edu.sizing.memory.weight_bytes``)."""
    from peft_edu.counting import count
    from peft_edu.lessons.costs import model_shape

    shape = model_shape(model)
    total = count(model, "full")["base_total"]
    linear = shape.n_layers * shape.linear_params_per_layer()
    counts = ParamCounts(total=total, trainable=0, base_linear_frozen=linear)
    return WeightMemory(model, total, linear, weight_bytes(counts, precision(16)),
                        weight_bytes(counts, precision(4, double_quant=True)))


# ---------------------------------------------------------------- the page's own W0 in NF4
@dataclass(frozen=True)
class AnimatedBase:
    """The frozen W0 the QLoRA page animates (the toy MLP's first layer), as NF4 stores it."""

    original: np.ndarray  # (d_out, d_in) float32 before quantization
    codes: np.ndarray  # (d_out, d_in) the 4-bit code of every weight, 0..15
    dequantized: np.ndarray  # (d_out, d_in) level[code] · absmax of its block: what the layer computes with
    distinct_per_block: tuple[int, ...]  # different values in each block of BLOCK weights (at most 16)


def animated_base() -> AnimatedBase:
    """Quantize the toy layer's W0 with ``peft_edu.nf4``, exactly as QLoRA's layer does."""
    from peft_edu.lessons.toy import ADAPTED, make_toy

    W = make_toy().base.get_submodule(ADAPTED).weight.detach().float()
    packed, absmax = nf4.quantize_nf4(W, BLOCK)
    codes = torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)[: W.numel()].reshape(W.shape)
    deq = nf4.dequantize_nf4(packed, absmax, W.shape, BLOCK)
    flat = deq.reshape(-1)
    distinct = tuple(int(torch.unique(flat[i:i + BLOCK]).numel()) for i in range(0, flat.numel(), BLOCK))
    return AnimatedBase(W.numpy(), codes.numpy().astype(int), deq.numpy(), distinct)


# ---------------------------------------------------------------- paged optimizers
@dataclass(frozen=True)
class PagedOptimizer:
    """What QLoRA's paged optimizer pages out, for one model and LoRA setup."""

    model: str
    trainable: int  # LoRA parameters (r, all linear layers of the blocks, as QLoRA trains)
    adam_bytes: float  # AdamW's two fp32 moments: 8 bytes per trainable parameter
    spike_bytes: float  # one long batch's logits and their gradient (fp32), the kind of spike paging absorbs


def paged_optimizer(model: str = "Llama-2-7B", r: int = 64, spike_tokens: int = 4096) -> PagedOptimizer:
    """QLoRA (§3) trains r = 64 on every linear layer; its optimizer states are 8·Φ bytes. A spike
    of activations (``spike_tokens`` tokens of one long example: fp32 logits and their gradient
    over the vocabulary) is what makes an unpaged run run out of memory."""
    from peft_edu.counting import count
    from peft_edu.models import preset

    fields = preset(model)["config"]
    c = count(dict(fields), "qlora", task="causal_lm", targets="all-linear", r=r)
    phi = c["trainable"] - c["head_trainable"]
    return PagedOptimizer(model, phi, 8.0 * phi, 2 * 4.0 * spike_tokens * fields["vocab_size"])
