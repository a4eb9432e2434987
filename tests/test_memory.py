"""Memory arithmetic (peft_edu.sizing.memory, peft_edu.sizing.activations) against independent sources:
the ZeRO paper's 16 bytes per parameter, Korthikanti et al.'s activation formula, and the
bytes bitsandbytes actually stores for NF4."""
import pytest

from peft_edu.sizing.activations import activation_bytes, activation_profile, layer_activation_bytes
from peft_edu.sizing.memory import (GB, ActivationSetup, ModelShape, ParamCounts, adapter_file_bytes, fits,
                             full_finetune_bytes, nf4_bits_per_weight, precision, training_memory, weight_bytes)

GPT_LIKE = ModelShape(n_layers=4, d_model=256, n_heads=8, n_kv_heads=8, d_ff=1024, vocab=1000, lm_head=False)


def test_full_finetune_is_16_bytes_per_parameter():
    # ZeRO (arXiv 1910.02054) §3.1: 2 (fp16 weights) + 2 (fp16 grads) + 4 + 4 + 4 (fp32 copy, m, v)
    assert full_finetune_bytes(7_000_000_000).total == 16 * 7_000_000_000


def test_training_memory_full_16bit_matches_zero_accounting():
    n = 5_000_000
    counts = ParamCounts(total=n, trainable=n, base_linear_frozen=0)
    mem = training_memory(GPT_LIKE, counts, "full", precision(16), ActivationSetup(2, 16))
    assert mem.weights + mem.gradients + mem.optimizer == full_finetune_bytes(n).total
    assert mem.total == pytest.approx(sum(mem.parts().values()))


def test_fp32_training_is_4_plus_4_plus_8_bytes():
    n = 1000
    mem = training_memory(GPT_LIKE, ParamCounts(n, n, 0), "full", precision(32), ActivationSetup(1, 1))
    assert (mem.weights, mem.gradients, mem.optimizer) == (4 * n, 4 * n, 8 * n)


@pytest.mark.parametrize("double_quant", [False, True])
def test_nf4_bits_match_what_bitsandbytes_stores(double_quant):
    """Bytes of bitsandbytes' NF4 tensor + its absmax constants (+ the second-level constants
    with double quantization), per weight; the fixed 256-entry code table is left out."""
    import torch
    import bitsandbytes.functional as F

    w = torch.randn(1024, 1024)
    packed, state = F.quantize_4bit(w, blocksize=64, compress_statistics=double_quant, quant_type="nf4")
    nbytes = packed.numel() * packed.element_size() + state.absmax.numel() * state.absmax.element_size()
    if state.nested:
        nbytes += state.state2.absmax.numel() * state.state2.absmax.element_size()
    assert 8 * nbytes / w.numel() == pytest.approx(nf4_bits_per_weight(double_quant), rel=1e-9)


def test_qlora_paper_constants():
    # QLoRA (arXiv 2305.14314) §3: constants cost 32/64 = 0.5 bits, 0.127 with double quantization
    assert nf4_bits_per_weight(False) == 4.5
    assert nf4_bits_per_weight(True) - 4 == pytest.approx(0.127, abs=5e-4)


def test_weight_bytes_quantizes_only_the_block_linears():
    counts = ParamCounts(total=1_000_000, trainable=10_000, base_linear_frozen=800_000)
    got = weight_bytes(counts, precision(4, double_quant=False))
    assert got == 10_000 * 2 + 800_000 * 4.5 / 8 + 190_000 * 2


def test_korthikanti_activation_formula():
    """arXiv 2205.05198 §4.1: full training, 16-bit, f = 4h, dropout, standard attention keeps
    s·b·h·(34 + 5·a·s/h) bytes per layer."""
    shape = ModelShape(n_layers=1, d_model=512, n_heads=8, n_kv_heads=8, d_ff=2048, vocab=100, lm_head=False)
    s, b, h, a = 128, 4, 512, 8
    setup = ActivationSetup(b, s, fused_attention=False, dropout=True)
    got = layer_activation_bytes(shape, activation_profile("full", shape), setup, 2)
    assert got == s * b * h * (34 + 5 * a * s / h)


def test_checkpointing_keeps_layer_inputs_plus_one_layer():
    setup = ActivationSetup(2, 64, checkpointing=True)
    prof = activation_profile("lora", GPT_LIKE)
    layer = layer_activation_bytes(GPT_LIKE, prof, setup, 2)
    inputs = GPT_LIKE.n_layers * 2 * 2 * 64 * GPT_LIKE.d_model
    outside = 2 * 2 * 64 * GPT_LIKE.d_model
    assert activation_bytes(GPT_LIKE, prof, setup, 2) == inputs + layer + outside
    no_ckpt = activation_bytes(GPT_LIKE, prof, ActivationSetup(2, 64), 2)
    assert activation_bytes(GPT_LIKE, prof, setup, 2) < no_ckpt


def test_frozen_layers_store_less_than_full_training():
    setup = ActivationSetup(4, 128)
    acts = {m: activation_bytes(GPT_LIKE, activation_profile(m, GPT_LIKE), setup, 2)
            for m in ("full", "lora", "lora_fa", "prompt_tuning")}
    assert acts["lora_fa"] < acts["lora"] < acts["full"]
    assert acts["prompt_tuning"] < acts["full"]


def test_activations_grow_linearly_with_batch():
    prof = activation_profile("lora", GPT_LIKE)
    one = activation_bytes(GPT_LIKE, prof, ActivationSetup(1, 64), 2)
    assert activation_bytes(GPT_LIKE, prof, ActivationSetup(8, 64), 2) == pytest.approx(8 * one)


def test_fits_uses_decimal_gigabytes():
    assert fits(24 * GB, 24) and not fits(24 * GB + 1, 24)
    with pytest.raises(ValueError):
        fits(1, 0)


def test_adapter_file_bytes():
    assert adapter_file_bytes(294_912, 2) == 589_824
    with pytest.raises(ValueError):
        adapter_file_bytes(-1)


@pytest.mark.parametrize("bad", [
    lambda: precision(8),
    lambda: ParamCounts(total=10, trainable=-1, base_linear_frozen=0),
    lambda: ParamCounts(total=10, trainable=6, base_linear_frozen=6),
    lambda: training_memory(GPT_LIKE, ParamCounts(10, 10, 0), "full", precision(4), ActivationSetup(1, 1)),
    lambda: ActivationSetup(0, 10),
    lambda: ModelShape(n_layers=1, d_model=100, n_heads=7, n_kv_heads=7, d_ff=10, vocab=10),
    lambda: activation_profile("lora", GPT_LIKE, targets=("q", "nope")),
])
def test_impossible_inputs_raise_value_error(bad):
    with pytest.raises(ValueError):
        bad()


def _saved_activation_bytes(model, batch: int, seq: int, vocab: int) -> int:
    """Bytes of the floating-point tensors autograd keeps for backward (parameters excluded),
    each storage once: the independent measure of what the activation model predicts."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        if t.dtype.is_floating_point and t.dim() >= 2 and t.untyped_storage().data_ptr() not in params:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    ids = torch.randint(0, vocab, (batch, seq))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=torch.zeros(batch, dtype=torch.long)).loss
    return sum(seen.values())


@pytest.mark.parametrize("method,kwargs,tolerance", [
    ("full", {}, 0.05),
    ("lora", dict(r=4, targets="query,value"), 0.05),
    ("lora_fa", dict(r=4, targets="query,value"), 0.05),
    ("prompt_tuning", dict(n_tokens=5), 0.05),
    ("ia3", {}, 0.05),
    # layers before the first trainable tensor keep nothing; with adapters that is layer 0's
    # whole attention, which the per-layer model counts: 1 layer in 6 here, 1 in 32+ in an LLM
    ("adapter", dict(bottleneck=16), 0.10),
])
def test_activation_model_matches_what_autograd_saves(method, kwargs, tolerance):
    """A 6-layer BERT in fp32 on the CPU, eager attention, dropout (masks kept as float32 on
    the CPU: mask_bytes = 4): the tensors autograd saves vs peft_edu's activation model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from peft_edu import apply
    from peft_edu.sizing.memory import dropout_mask_values

    n_layers, h, heads, ffn, vocab, batch, seq = 6, 64, 4, 256, 500, 4, 32
    torch.manual_seed(0)
    config = BertConfig(num_hidden_layers=n_layers, hidden_size=h, num_attention_heads=heads,
                        intermediate_size=ffn, vocab_size=vocab, attn_implementation="eager")
    model = BertForSequenceClassification(config).train()
    if method != "full":
        apply(model, method, **kwargs)
    measured = _saved_activation_bytes(model, batch, seq, vocab)
    shape = ModelShape(n_layers, h, heads, heads, ffn, vocab, lm_head=False)
    setup = ActivationSetup(batch, seq, fused_attention=False, dropout=True)
    config = {k: v for k, v in kwargs.items() if k != "targets"}  # the method's own knobs, as applied
    profile = activation_profile(method, shape, targets=("q", "v"), **config)
    estimate = activation_bytes(shape, profile, setup, 4) + 3 * dropout_mask_values(shape, profile, setup)
    assert measured == pytest.approx(estimate, rel=tolerance)
