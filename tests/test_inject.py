"""``apply`` on the toy MLP and the Llama/Mistral family; clear errors for bad input.

(BERT and GPT-2 are covered by test_lora_family.py and test_additive.py.) The Llama
checks use grouped-query attention, so k_proj / v_proj are narrower than q_proj: the
closed forms must use each layer's own shape.
"""
import copy
import dataclasses

import pytest
import torch

import peft_edu
from peft_edu.methods import ia3
from tests.tiny import randomize_adapters, tiny_bert, tiny_llama, tiny_mistral

D, HEADS, KV_HEADS, LAYERS, D_FF, VOCAB = 32, 4, 2, 2, 48, 50  # tests.tiny's tiny_llama / tiny_mistral
D_KV = KV_HEADS * D // HEADS  # 16: grouped-query attention
LORA_FAMILY = ("lora", "lora_fa", "lora_plus", "delta_lora", "dora", "vera", "qlora")
CONFIGS = {"prompt_tuning": {"n_tokens": 3}, "prefix_tuning": {"n_tokens": 3}, "adapter": {"bottleneck": 4},
           "ia3": {}, "full": {}, **{m: {"r": 2} for m in LORA_FAMILY}}
IDS = torch.randint(1, VOCAB, (2, 6), generator=torch.Generator().manual_seed(1))


# Closed forms written out for the tiny Llama (REFERENCE.md table), head frozen (causal LM).
# Default LoRA targets q_proj (32 -> 32) and v_proj (32 -> D_KV = 16), r = 2, in each of 2 layers.
EXPECTED_LLAMA = {
    "lora": LAYERS * (2 * (D + D) + 2 * (D + D_KV)),  # r (d_in + d_out) per layer: 2 · (128 + 96) = 448
    "lora_plus": 448, "delta_lora": 448, "qlora": 448,  # LoRA's layer
    "lora_fa": LAYERS * (2 * D + 2 * D_KV),  # r · d_out: 2 · (64 + 32) = 192
    "dora": 448 + LAYERS * (D + D_KV),  # + m (d_out): 448 + 96 = 544
    "vera": LAYERS * ((D + 2) + (D_KV + 2)),  # d_out + r: 2 · (34 + 18) = 104
    "ia3": LAYERS * (2 * D_KV + D_FF),  # l_k, l_v (d_kv) and l_ff (d_ff): 2 · 80 = 160
    "prompt_tuning": 3 * D,  # n · d = 96
    "prefix_tuning": 3 * LAYERS * 2 * D_KV,  # n · L · 2 · d_kv = 192
    "adapter": LAYERS * (2 * (2 * D * 4 + D + 4) + 2 * D),  # 2 adapters (2dm + d + m) + 2 RMSNorm gains: 1,296
}


def expected_llama_trainable(model, method: str) -> int:
    if method == "full":
        return sum(p.numel() for p in model.parameters())
    return EXPECTED_LLAMA[method]


@pytest.mark.parametrize("method", CONFIGS)
def test_llama_closed_form_counts(method):
    model = peft_edu.apply(tiny_llama(), method, **CONFIGS[method])
    assert peft_edu.trainable_parameters(model) == expected_llama_trainable(model, method)


@pytest.mark.parametrize("method", [m for m in CONFIGS if m != "full"])
def test_model_params_protocol_equals_counted(method):
    """Every module's model_params(arch, cfg) (or the protocol's default, layer_params over the
    targets) gives what the built model counts, with the config-only Arch of the same model."""
    from peft_edu.methods import protocol
    from peft_edu.models import arch_from_config

    model = peft_edu.apply(tiny_llama(), method, **CONFIGS[method])
    info = peft_edu.applied(model)
    arch = arch_from_config(model.config, "causal_lm")
    arch = dataclasses.replace(arch, targets=info.arch.targets)
    assert protocol(method).model_params(arch, info.config) == peft_edu.trainable_parameters(model)


def test_llama_lora_shapes_follow_grouped_query_attention():
    model = peft_edu.apply(tiny_llama(), "lora", r=2, targets="q_proj,k_proj,v_proj")
    block = model.model.layers[0].self_attn
    assert block.q_proj.B.shape == (D, 2) and block.k_proj.B.shape == (D_KV, 2) and block.v_proj.B.shape == (D_KV, 2)
    assert peft_edu.trainable_parameters(model) == LAYERS * 2 * ((D + D) + 2 * (D + D_KV))


@pytest.mark.parametrize("method", ["full", "lora", "lora_fa", "lora_plus", "delta_lora", "dora", "vera", "ia3", "adapter"])
def test_llama_output_equals_base_at_init(method):
    base = tiny_llama()
    model = peft_edu.apply(copy.deepcopy(base), method, **CONFIGS[method])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=IDS).logits, base(input_ids=IDS).logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["lora", "dora", "vera", "ia3"])
def test_mistral_merged_equals_unmerged(method):
    model = peft_edu.apply(tiny_mistral(), method, **CONFIGS[method])
    randomize_adapters(model)
    if method == "ia3":
        with torch.no_grad():
            for layer in (m for m in model.modules() if isinstance(m, ia3.IA3)):
                layer.l.mul_(torch.linspace(0.5, 1.5, layer.l.numel()))
    mask = torch.ones_like(IDS)
    with torch.no_grad():
        before = model(input_ids=IDS, attention_mask=mask).logits
        peft_edu.merge(model)
        merged = model(input_ids=IDS, attention_mask=mask).logits
        peft_edu.unmerge(model)
        after = model(input_ids=IDS, attention_mask=mask).logits
    assert not torch.allclose(before, tiny_mistral()(input_ids=IDS, attention_mask=mask).logits, atol=1e-3)
    torch.testing.assert_close(merged, before, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


def test_mistral_head_trains_by_default():
    model = peft_edu.apply(tiny_mistral(), "lora", r=2)  # peft's default targets: q_proj, v_proj
    assert model.score.weight.requires_grad
    head = D * 3
    assert peft_edu.trainable_parameters(model) == LAYERS * 2 * (D + D) + LAYERS * 2 * (D + D_KV) + head


# ---------------------------------------------------------------- the toy MLP
def test_toy_mlp_lora_family():
    for method in ("lora", "lora_fa", "dora", "vera", "qlora", "delta_lora"):
        model = peft_edu.apply(peft_edu.toy_mlp(16, 32, 32, 4), method, r=2)
        expected = sum(peft_edu.layer_params(method, o, i, r=2) for o, i in ((32, 16), (32, 32))) + 32 * 4 + 4
        assert peft_edu.trainable_parameters(model) == expected
    base = peft_edu.toy_mlp()
    model = peft_edu.apply(copy.deepcopy(base), "lora", r=2, train_head=False)
    x = torch.randn(5, 16)
    torch.testing.assert_close(model(x), base(x), rtol=0, atol=0)
    assert peft_edu.trainable_parameters(model) == 2 * (16 + 32) + 2 * (32 + 32)


def test_all_linear_never_wraps_the_head():
    model = peft_edu.apply(tiny_bert(), "lora", r=2, targets="all-linear")
    targets = peft_edu.applied(model).arch.targets
    assert len(targets) == 2 * 6 + 1 and "classifier" not in targets  # 6 per block + the pooler
    assert peft_edu.applied(peft_edu.apply(tiny_llama(), "lora", targets="all-linear")).arch.targets[-1].endswith("down_proj")


# ---------------------------------------------------------------- bad input
def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="unknown method 'loraa'; choose one of: full, lora, "):
        peft_edu.apply(tiny_bert(), "loraa")
    with pytest.raises(ValueError, match="r must be an integer >= 1, got 0"):
        peft_edu.apply(tiny_bert(), "lora", r=0)
    with pytest.raises(ValueError, match="'q_proj' matches no linear layer; the linear layers are: "
                                         "attention.self.query, attention.self.key"):
        peft_edu.apply(tiny_bert(), "lora", targets="q_proj")
    model = peft_edu.apply(tiny_bert(), "lora")
    with pytest.raises(ValueError, match="already has 'lora' applied"):
        peft_edu.apply(model, "dora")
    with pytest.raises(ValueError, match="unsupported architecture Sequential; supported: BERT-family"):
        peft_edu.apply(torch.nn.Sequential(torch.nn.Linear(3, 3)), "lora")
    with pytest.raises(ValueError, match="not 'mlp'"):
        peft_edu.apply(peft_edu.toy_mlp(), "ia3")
    with pytest.raises(ValueError, match="ia3 does not take targets"):
        peft_edu.apply(tiny_bert(), "ia3", targets="query")
    with pytest.raises(ValueError, match="unknown option.*rank.*valid: r, alpha, dropout"):
        peft_edu.apply(tiny_bert(), "lora", rank=4)
    with pytest.raises(ValueError, match="cannot be merged.*mergeable methods: full, lora"):
        peft_edu.merge(peft_edu.apply(tiny_bert(), "prompt_tuning", n_tokens=2))
    with pytest.raises(ValueError, match="no method applied"):
        peft_edu.merge(tiny_bert())
    with pytest.raises(ValueError, match="per model, not per layer"):
        peft_edu.layer_params("prompt_tuning", 3, 3)
    with pytest.raises(ValueError, match="d_out must be an integer >= 1"):
        peft_edu.layer_params("lora", 0, 3)
