"""NF4, the 4-bit NormalFloat data type of QLoRA (Dettmers et al., 2023, arXiv 2305.14314, §3).

Pretrained weights are roughly normally distributed, so NF4 places its 16 levels at
quantiles of a normal distribution: equal numbers of weights fall near each level.
A weight matrix is split into blocks of 64; each block is divided by its largest |w|
(absmax), and each weight becomes the 4-bit index of the nearest level. Two indices are
packed into one byte. Double quantization (§3) stores the float32 absmax constants again
in 8 bits, in blocks of 256, which cuts their cost from 32/64 = 0.5 to about 0.127 bits
per weight.

The levels and the rounding match bitsandbytes' NF4 exactly (tested on the same inputs).
For the second level bitsandbytes uses its 8-bit dynamic code; here it is a plain
symmetric 8-bit integer per value with one float32 scale per block of 256, the same
storage, with the error bound stated at ``quantize_absmax``.
"""
from __future__ import annotations

import torch

#: The 16 NF4 levels, exactly as bitsandbytes defines them (QLoRA Appendix E).
NF4_CODE = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
])


def normal_float_levels(offset: float = 0.9677083) -> torch.Tensor:
    """Derive the 16 levels from normal quantiles (QLoRA §3), to show where NF4 comes from.

    8 positive quantiles between probabilities ``offset`` and 0.5, 7 negative ones, and an
    exact zero (asymmetric, so that 0 is representable), normalised into [-1, 1].
    """
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])
    levels = torch.cat([positive, torch.zeros(1, dtype=torch.float64), negative]).sort().values
    return (levels / levels.abs().max()).float()


def _pad_to(x: torch.Tensor, multiple: int, value: float = 0) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, -x.numel() % multiple), value=value)


def quantize_nf4(W: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """W (any shape) -> (packed codes uint8 (ceil(n/2),), absmax float32 (n_blocks,)).

    A last partial block gets its own absmax. Byte k holds code 2k in its high nibble.
    """
    w = W.detach().reshape(-1).float()
    n = w.numel()
    blocks = _pad_to(w, blocksize).view(-1, blocksize)  # (n_blocks, 64); zero padding never wins absmax
    absmax = blocks.abs().max(dim=1).values  # (n_blocks,)
    scaled = (blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]).clamp(-1, 1)  # into [-1, 1]
    midpoints = (NF4_CODE[:-1] + NF4_CODE[1:]) / 2  # nearest level = bucket between midpoints
    codes = torch.bucketize(scaled.reshape(-1)[:n], midpoints.to(w.device)).to(torch.uint8)
    codes = _pad_to(codes, 2, value=7)  # an odd count is padded with the level 0.0
    packed = (codes[0::2] << 4) | codes[1::2]  # two 4-bit codes per byte
    return packed, absmax


def dequantize_nf4(packed: torch.Tensor, absmax: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    """Inverse of ``quantize_nf4``: level[code] · absmax of its block, float32, in ``shape``."""
    n = torch.Size(shape).numel()
    codes = torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1).long()  # (2 · bytes,)
    values = _pad_to(NF4_CODE.to(packed.device)[codes][:n], blocksize).view(-1, blocksize)
    return (values * absmax[:, None]).reshape(-1)[:n].reshape(shape)


def quantize_absmax(absmax: torch.Tensor, blocksize: int = 256):
    """Double quantization: (absmax - mean) as int8, one float32 scale per block of 256.

    Returns ``(q int8 (n,), scale float32 (n_blocks,), offset float32 ())``. Each constant
    is recovered to within scale / 2 = (largest |absmax - mean| of its block) / 254.
    """
    offset = absmax.mean()
    centred = _pad_to(absmax - offset, blocksize).view(-1, blocksize)  # (n_blocks, 256)
    scale = centred.abs().max(dim=1).values.clamp(min=1e-12) / 127  # (n_blocks,)
    q = torch.round(centred / scale[:, None]).to(torch.int8).reshape(-1)[: absmax.numel()]
    return q, scale, offset


def dequantize_absmax(q: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor,
                      blocksize: int = 256) -> torch.Tensor:
    values = _pad_to(q.float(), blocksize).view(-1, blocksize) * scale[:, None]
    return values.reshape(-1)[: q.numel()] + offset


def storage_bytes(n: int, blocksize: int = 64, double_quant: bool = True) -> int:
    """Bytes to store n weights in NF4: codes, plus constants (8-bit + scales, or float32)."""
    n_blocks = -(-n // blocksize)
    codes = -(-n // 2)
    if not double_quant:
        return codes + 4 * n_blocks
    return codes + n_blocks + 4 * -(-n_blocks // 256) + 4  # int8 constants, fp32 scales, offset
