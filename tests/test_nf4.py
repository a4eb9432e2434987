"""NF4 (QLoRA, arXiv 2305.14314 §3) against bitsandbytes on the CPU and REFERENCE.md.

Independent references: the 16 levels as printed in REFERENCE.md and as bitsandbytes
builds them; bitsandbytes' packed codes, block constants and dequantized weights on the
same inputs; brute-force nearest-level search; error bounds from the level spacing.
"""
import warnings

import pytest
import torch

import peft_edu
from peft_edu import nf4
from peft_edu.methods import qlora
from tests.reference import REFERENCE_LEVELS
from tests.tiny import tiny_bert

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # bitsandbytes warns that it has no GPU here
    from bitsandbytes import functional as bnb_f

SHAPES = [(64, 96), (33, 70), (7, 9), (1, 1)]  # whole blocks, a partial last block, odd counts


def weights(shape, seed=0, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def test_the_16_levels():
    assert nf4.NF4_CODE.tolist() == torch.tensor(REFERENCE_LEVELS).tolist()
    assert torch.equal(nf4.NF4_CODE, bnb_f.get_4bit_type("nf4", device="cpu"))
    # derived from normal quantiles as in the paper: same levels to float32 rounding
    torch.testing.assert_close(nf4.normal_float_levels(), nf4.NF4_CODE, rtol=0, atol=2e-7)


def bnb_reference_dequantize(codes: torch.Tensor, state, shape) -> torch.Tensor:
    """bitsandbytes' own pure-PyTorch dequantization (its "default" backend), without the
    torch.compile wrapper around it: the reference its kernels are meant to equal."""
    from bitsandbytes.backends.default import ops

    compute = getattr(ops._dequantize_4bit_compute, "__wrapped__", ops._dequantize_4bit_compute)
    return compute(codes.flatten(), state.absmax, state.code, 64, shape, torch.float32)


def by_definition(packed: torch.Tensor, absmax: torch.Tensor, shape) -> torch.Tensor:
    """W_q = code[index] · absmax of the index's block, written out: high nibble first."""
    n = shape[0] * shape[1]
    index = torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)[:n].long()
    block = torch.arange(n) // 64
    return (torch.tensor(REFERENCE_LEVELS)[index] * absmax[block]).reshape(shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_codes_constants_and_weights_equal_bitsandbytes(shape, dtype):
    """Codes and block constants equal bitsandbytes' quantize_4bit bit for bit; the dequantized
    weights equal the definition and bitsandbytes' own PyTorch reference.

    Not compared with bitsandbytes' CPU kernel (dequantize_4bit) here: in bitsandbytes 0.50.2
    its AVX-512 path dequantizes matrices whose rows are not whole 64-value blocks wrongly
    (64×96: most values off by up to 2.0, while its reference agrees with ours). The kernel
    is compared below only on shapes where it is known to be right."""
    W = weights(shape, dtype=dtype)
    ref_codes, ref_state = bnb_f.quantize_4bit(W, blocksize=64, quant_type="nf4", compress_statistics=False)
    packed, absmax = nf4.quantize_nf4(W, 64)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-W.numel() // 2)  # two codes per byte
    assert torch.equal(packed, ref_codes.flatten())
    torch.testing.assert_close(absmax, ref_state.absmax.float(), rtol=0, atol=0)
    ours = nf4.dequantize_nf4(packed, absmax, shape, 64)  # float32 maths
    torch.testing.assert_close(ours, by_definition(packed, absmax, shape), rtol=0, atol=0)
    torch.testing.assert_close(ours, bnb_reference_dequantize(ref_codes, ref_state, shape), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(64, 128), (32, 64), (3, 256)])  # every row whole 64-value blocks
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dequantized_weights_equal_the_bitsandbytes_kernel(shape, dtype):
    """Where bitsandbytes' CPU kernel is right (rows of whole blocks), it equals ours exactly."""
    W = weights(shape, dtype=dtype)
    ref_codes, ref_state = bnb_f.quantize_4bit(W, blocksize=64, quant_type="nf4", compress_statistics=False)
    packed, absmax = nf4.quantize_nf4(W, 64)
    ours = nf4.dequantize_nf4(packed, absmax, shape, 64).to(dtype)
    torch.testing.assert_close(ours, bnb_f.dequantize_4bit(ref_codes, ref_state), rtol=0, atol=0)


def test_nearest_level_and_round_trip_bound():
    W = weights((40, 64), seed=1)
    packed, absmax = nf4.quantize_nf4(W, 64)
    codes = torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1).long()
    scaled = (W.reshape(-1, 64) / absmax[:, None]).reshape(-1)
    brute = (scaled[:, None] - nf4.NF4_CODE[None, :]).abs().argmin(dim=1)  # nearest level by search
    assert torch.equal(nf4.NF4_CODE[codes], nf4.NF4_CODE[brute])
    error = (nf4.dequantize_nf4(packed, absmax, W.shape) - W).abs().reshape(-1, 64)
    half_gap = (nf4.NF4_CODE[1:] - nf4.NF4_CODE[:-1]).max() / 2  # widest gap: -1.0 to -0.6962
    assert torch.all(error <= absmax[:, None] * half_gap + 1e-6)
    assert torch.all(error.max(dim=1).values <= absmax)  # never worse than a block's scale
    block_max = W.reshape(-1, 64).abs().argmax(dim=1)  # ±absmax itself is stored exactly (level ±1)
    assert torch.all(error.gather(1, block_max[:, None]) < 1e-6)


def test_double_quantization_bound_and_bitsandbytes():
    W = weights((512, 256), seed=2) * 0.02
    packed, absmax = nf4.quantize_nf4(W, 64)
    q, scale, offset = nf4.quantize_absmax(absmax)
    assert q.dtype == torch.int8 and q.numel() == absmax.numel() == 2048 and scale.numel() == 8
    recovered = nf4.dequantize_absmax(q, scale, offset)
    per_block = scale.repeat_interleave(256)[: absmax.numel()]
    assert torch.all((recovered - absmax).abs() <= per_block / 2 + 1e-7)  # the documented bound
    # bitsandbytes' double quantization (8-bit dynamic code, blocks of 256) on the same weights
    ref_codes, ref_state = bnb_f.quantize_4bit(W, blocksize=64, quant_type="nf4", compress_statistics=True)
    assert ref_state.nested and ref_state.state2.blocksize == 256
    assert torch.equal(packed, ref_codes.flatten())  # first level unchanged by double quantization
    ref_absmax = bnb_f.dequantize_blockwise(ref_state.absmax, ref_state.state2) + ref_state.offset
    assert (recovered - absmax).abs().max() <= (ref_absmax - absmax).abs().max()  # as accurate as bnb's
    ours = nf4.dequantize_nf4(packed, recovered, W.shape)
    theirs = bnb_f.dequantize_4bit(ref_codes, ref_state)
    assert (ours - W).abs().max() <= 1.05 * (theirs - W).abs().max()


def test_storage_bits_per_weight():
    n = 4096 * 4096
    assert nf4.storage_bytes(n, double_quant=False) * 8 / n == pytest.approx(4 + 32 / 64)  # 0.5 bits of constants
    constants = nf4.storage_bytes(n) * 8 / n - 4
    assert constants == pytest.approx(8 / 64 + 32 / (64 * 256), abs=1e-5)  # 0.127 bits (QLoRA §3)
    assert round(constants, 3) == 0.127
    W = weights((512, 256), seed=2)  # the same storage as bitsandbytes (less its fixed 256-entry table)
    codes, state = bnb_f.quantize_4bit(W, blocksize=64, quant_type="nf4", compress_statistics=True)
    bnb_bytes = codes.numel() + state.absmax.numel() + 4 * state.state2.absmax.numel() + 4
    assert nf4.storage_bytes(W.numel()) == bnb_bytes


def test_nf4_linear_stores_packed_codes_and_reports_true_bytes():
    torch.manual_seed(0)
    linear = torch.nn.Linear(96, 64)
    layer = qlora.NF4Linear(linear)
    assert layer.packed.dtype == torch.uint8 and layer.packed.numel() == 96 * 64 // 2
    assert not any(p.numel() == 96 * 64 for p in layer.parameters())  # no full-precision W0 kept
    assert layer.storage_bytes() == nf4.storage_bytes(96 * 64) < 96 * 64 * 4 / 7
    x = torch.randn(3, 96)
    expected = torch.nn.functional.linear(x, layer.weight(), linear.bias)
    torch.testing.assert_close(layer(x), expected)
    half_gap = 0.5 * (1.0 - 0.6961928009986877)  # the widest gap between two levels
    assert (layer.weight() - linear.weight).abs().max() <= linear.weight.abs().max() * half_gap * 1.01


def test_qlora_stores_every_frozen_linear_layer_in_nf4():
    model = peft_edu.apply(tiny_bert(), "qlora", r=2)
    d, d_ff, blocks = 32, 64, 2  # tiny_bert: 4 d×d attention projections, d_ff×d and d×d_ff FFN, a d×d pooler
    sizes = blocks * ([d * d] * 4 + [d_ff * d, d * d_ff]) + [d * d]
    assert qlora.storage_bytes(model) == sum(nf4.storage_bytes(n) for n in sizes)
    left = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert left == ["classifier"]  # only the task head keeps full precision (as bitsandbytes loading)
    assert peft_edu.total_parameters(model) == peft_edu.total_parameters(tiny_bert()) + 2 * blocks * 2 * (d + d)
