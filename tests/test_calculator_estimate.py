"""The calculator's numbers: counts agree with peft_edu.count, closed forms and the papers;
memory terms add up as peft_edu.sizing.memory says."""
import dataclasses

import pytest

from peft_edu import count, layer_params
from peft_edu.sizing.config import ALL_LINEAR, CalcConfig
from peft_edu.sizing.estimate import base_weight_bytes, estimate, method_counts
from peft_edu.sizing.memory import full_finetune_bytes
from peft_edu.sizing.paper_counts import PAPER_COUNTS, paper_count

ROBERTA = CalcConfig(model="roberta-base", methods=("lora",))
TINY_LLAMA = CalcConfig(model="custom", arch="llama", layers=3, hidden=64, heads=8, kv_heads=2, ffn=160, vocab=300)
TINY_GPT2 = CalcConfig(model="custom", arch="gpt2", layers=2, hidden=48, heads=4, kv_heads=4, ffn=96, vocab=200)


@pytest.mark.parametrize("method,knob,values,direct", [
    ("lora", "r", (3, 8, 37), lambda v: dict(r=v)),
    ("dora", "r", (5, 64), lambda v: dict(r=v)),
    ("lora_fa", "r", (7,), lambda v: dict(r=v)),
    ("qlora", "r", (16,), lambda v: dict(r=v)),
    ("vera", "vera_r", (3, 300), lambda v: dict(r=v)),
    ("prompt_tuning", "n_tokens", (1, 37), lambda v: dict(n_tokens=v)),
    ("prefix_tuning", "n_tokens", (11,), lambda v: dict(n_tokens=v)),
    ("adapter", "bottleneck", (5, 100), lambda v: dict(bottleneck=v)),
])
def test_knob_extrapolation_equals_direct_count(method, knob, values, direct):
    """method_counts extrapolates from knob = 1 and 2; peft_edu.count builds each value."""
    for value in values:
        config = dataclasses.replace(ROBERTA, methods=(method,), targets=("q", "k", "o"), **{knob: value})
        ours = method_counts(config, method)
        targets = "query,key,attention.output.dense" if method in ("lora", "dora", "lora_fa", "qlora", "vera") else None
        ref = count("roberta-base", method, targets=targets, **direct(value))
        assert (ours["trainable"], ours["total"]) == (ref["trainable"], ref["total"]), (method, value)


@pytest.mark.parametrize("config", [TINY_LLAMA, TINY_GPT2])
def test_custom_models_count_like_hand_built_configs(config):
    ours = method_counts(dataclasses.replace(config, r=4, targets=("q", "v")), "lora")
    fields = ({"model_type": "llama", "num_hidden_layers": 3, "hidden_size": 64, "num_attention_heads": 8,
               "num_key_value_heads": 2, "intermediate_size": 160, "vocab_size": 300}
              if config.arch == "llama" else
              {"model_type": "gpt2", "n_layer": 2, "n_embd": 48, "n_head": 4, "n_inner": 96, "vocab_size": 200})
    targets = "q_proj,v_proj" if config.arch == "llama" else "c_attn"
    assert ours["trainable"] == count(fields, "lora", r=4, targets=targets)["trainable"]


def test_grouped_query_attention_in_closed_form():
    # Llama: q (64x64) and v (kv_heads*head_dim = 2*8 = 16 x 64), LoRA r (d_in + d_out) each, 3 layers
    ours = method_counts(dataclasses.replace(TINY_LLAMA, r=4), "lora")
    assert ours["trainable_without_head"] == 3 * 4 * ((64 + 64) + (64 + 16))


def test_bert_mlp_without_attention_output():
    """BERT's FFN output is "output.dense" inside a block; the attention output
    "attention.output.dense" ends the same way but is not adapted."""
    mlp = method_counts(dataclasses.replace(ROBERTA, r=8, targets=("mlp",)), "lora")
    assert mlp["trainable_without_head"] == 12 * 8 * ((768 + 3072) + (3072 + 768))
    q_mlp = method_counts(dataclasses.replace(ROBERTA, r=8, targets=("q", "mlp")), "lora")
    assert q_mlp["trainable_without_head"] == mlp["trainable_without_head"] + 12 * 8 * 1536
    assert q_mlp["adapted_layers"] == 36


def test_all_linear_matches_peft_edu_all_linear():
    ours = method_counts(dataclasses.replace(ROBERTA, targets=(ALL_LINEAR,)), "lora")
    assert ours["trainable"] == count("roberta-base", "lora", r=8, targets="all-linear")["trainable"]


def test_reference_counts():
    assert layer_params("lora", 1000, 1000, r=4) == 8_000
    assert method_counts(dataclasses.replace(ROBERTA, r=8), "lora")["trainable_without_head"] == 294_912
    gpt3 = CalcConfig(model="GPT-3-175B", r=8, targets=("q", "v"))
    assert method_counts(gpt3, "lora")["trainable_without_head"] == 37_748_736


@pytest.mark.parametrize("paper", [p for p in PAPER_COUNTS if p.method != "full"],
                         ids=lambda p: f"{p.model}-{p.method}-{p.knob}")
def test_paper_counts_agree_with_ours_to_the_printed_digits_or_explain(paper):
    knob = "vera_r" if paper.method == "vera" else "r"
    config = CalcConfig(model=paper.model, methods=(paper.method,), targets=paper.targets, **{knob: paper.knob})
    ours = method_counts(config, paper.method)["trainable_without_head"]
    assert paper_count(paper.model, paper.method, paper.knob, paper.targets) is paper
    number = paper.shown.rstrip("M")
    digits = len(number.split(".")[1]) if "." in number else 0  # "0.043M" -> 3 decimals of a million
    if paper.note:  # the paper's table disagrees with its own formula: we say so on screen
        assert f"{ours:,}" in paper.note
    else:
        assert round(ours / 1e6, digits) == pytest.approx(paper.value / 1e6, abs=10 ** -digits * 0.51)


def test_full_finetuning_paper_counts_within_one_percent():
    for p in (p for p in PAPER_COUNTS if p.method == "full"):
        ours = method_counts(CalcConfig(model=p.model, methods=("full",)), "full")["total"]
        assert ours == pytest.approx(p.value, rel=0.01), p


def test_no_paper_number_for_other_configurations():
    assert paper_count("roberta-base", "lora", 16, ("q", "v")) is None
    assert paper_count("roberta-base", "lora", 8, ("q", "k", "v")) is None
    assert paper_count("Llama-2-7B", "lora", 8, ("q", "v")) is None


def test_memory_terms_follow_peft_edu_memory():
    config = CalcConfig(model="gpt2", methods=("full", "lora", "qlora"), bits=16, double_quant=True)
    rows, problems = estimate(config)
    assert problems == {}
    full, lora, qlora = rows
    n = full.counts["total"]
    assert full.memory.weights + full.memory.gradients + full.memory.optimizer == full_finetune_bytes(n).total
    assert lora.memory.gradients == 2 * lora.counts["trainable"]
    assert lora.memory.optimizer == 12 * lora.counts["trainable"]  # fp32 m, v + fp32 master copy
    # GPT-2 small, by hand. Block linear weights: c_attn 768·2304 + attn c_proj 768·768 + c_fc 768·3072
    # + mlp c_proj 3072·768 = 7,077,888 per block, ·12 = 84,934,656, in NF4 + double quantization:
    # 4 + 8/64 + 32/(64·256) = 4.126953125 bits -> 84,934,656 · 4.126953125 / 8 = 43,815,168 bytes.
    # The rest of GPT-2's 124,439,808 weights (embeddings, biases, norms): 39,505,152, in bf16 -> 79,010,304.
    # LoRA r=8 on the fused c_attn: 12 · 8 · (768 + 2304) = 294,912, in bf16 -> 589,824.
    assert qlora.counts["trainable"] == 294_912
    assert qlora.memory.weights == 43_815_168 + 79_010_304 + 589_824  # = 123,415,296
    assert qlora.memory.activations == lora.memory.activations
    assert full.adapter_bytes == 2 * n and lora.adapter_bytes == 2 * lora.counts["trainable"]


def test_checkpointing_toggle_and_gpu_fit():
    config = CalcConfig(model="Llama-2-7B", methods=("lora",), batch=8, seq=2048)
    (plain,), _ = estimate(config)
    (ckpt,), _ = estimate(dataclasses.replace(config, checkpointing=True))
    assert ckpt.memory.activations < plain.memory.activations
    assert ckpt.memory_other == plain.memory and plain.memory_other == ckpt.memory
    # Llama-2-7B + LoRA r=8 on q, v; bf16, T = 8·2048 = 16,384 tokens, h = 4096, f = 11,008, V = 32,000.
    # Parameters: 6,738,415,616 + 32·2·8·(4096 + 4096) = 6,742,609,920 -> weights 2 bytes each
    # = 13,485,219,840; LoRA's 4,194,304 trainable: gradients ·2 = 8,388,608, AdamW + master ·12 = 50,331,648.
    # Kept per layer: norms 2·2·T·h = 268,435,456; q, k, v 2·T·3h = 402,653,184; SwiGLU 3·2·T·f =
    # 1,082,130,432; fused attention output 2·T·h = 134,217,728 + log-sum-exp 4·32·T = 2,097,152;
    # LoRA's input x of q/v 2·T·h = 134,217,728 and A·x 2·T·(2·8) = 524,288: 2,024,275,968 per layer.
    # Outside the layers: 2·T·h + T·V·(2 + 4) = 3,279,945,728; backward's working set: the two fp32
    # gradients of the loss's input (w.r.t. the log-probabilities and the logits) 2·4·T·V =
    # 4,194,304,000 + the residual gradient 2·2·T·h = 268,435,456 = 4,462,739,456.
    # Without checkpointing: 32 · 2,024,275,968 + 3,279,945,728 + 4,462,739,456 = 72,519,516,160.
    # With it: 32 · 2·T·h (each layer's input) + one layer + the same two = 14,061,928,448.
    assert plain.memory.total == 13_485_219_840 + 8_388_608 + 50_331_648 + 72_519_516_160  # 86.06 GB
    assert ckpt.memory.total == 13_485_219_840 + 8_388_608 + 50_331_648 + 14_061_928_448  # 27.61 GB
    assert plain.fits == {24: False, 40: False, 80: False}
    assert ckpt.fits == {24: False, 40: True, 80: True}


def test_unavailable_method_is_reported_not_raised(monkeypatch):
    import peft_edu.sizing.estimate as est

    real = est.method_counts

    def refuse_adapters(config, method):
        if method == "adapter":
            raise ValueError("adapters support BERT-family models, not 'llama'")
        return real(config, method)

    monkeypatch.setattr(est, "method_counts", refuse_adapters)
    rows, problems = estimate(CalcConfig(model="Llama-2-7B", methods=("lora", "adapter")))
    assert [r.method for r in rows] == ["lora"] and "not 'llama'" in problems["adapter"]


def test_base_weights_at_each_precision():
    weights = list(base_weight_bytes(CalcConfig(model="Llama-2-7B")).values())
    fp32, bf16, nf4, nf4_dq = weights
    assert fp32 == 2 * bf16 and bf16 > nf4 > nf4_dq
    assert 3.4e9 < nf4_dq < 4.0e9  # 7B weights in ~4.1 bits, embeddings and head in 16


def test_fused_qkv_counts_beside_separate_layers():
    """GPT-2 (12 blocks, d = 768, c_attn: 768 → 2304). Wq + Wv adapt the whole c_attn:
    LoRA r = 8: 12 · 8 · (768 + 2304) = 294,912, and as separate q, v: 12 · 2 · 8 · (768 + 768) —
    the same number; DoRA adds one magnitude per output: 12 · (24,576 + 2,304) = 322,560 against
    12 · (24,576 + 2 · 768) = 313,344. Wq alone: fused 294,912, separate 12 · 8 · 1,536 = 147,456.
    The separate counts equal peft_edu.count on a Llama of GPT-2's sizes with q_proj, v_proj."""
    from peft_edu import count
    from peft_edu.sizing.estimate import fused_qkv_counts

    qv = {c.method: c for c in fused_qkv_counts(CalcConfig(model="gpt2", methods=("lora", "dora", "ia3"),
                                                           targets=("q", "v")))}
    assert set(qv) == {"lora", "dora"}  # (IA)³ has a fixed set of layers, not the chosen q/k/v
    assert (qv["lora"].fused, qv["lora"].separate) == (294_912, 294_912)
    assert (qv["dora"].fused, qv["dora"].separate) == (322_560, 313_344)
    (q,) = fused_qkv_counts(CalcConfig(model="gpt2", methods=("lora",), targets=("q",)))
    assert (q.fused, q.separate) == (294_912, 147_456)
    llama = {"model_type": "llama", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "num_key_value_heads": 12, "intermediate_size": 3072, "vocab_size": 1000}
    for method, c in qv.items():
        separate = count(llama, method, task="causal_lm", targets=("q_proj", "v_proj"), r=8)
        assert c.separate == separate["trainable"] - separate["head_trainable"]
    assert fused_qkv_counts(CalcConfig(model="Llama-2-7B", methods=("lora",), targets=("q", "v"))) == []
