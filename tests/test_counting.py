"""Whole-model counts (``peft_edu.count``, meta device) against independent numbers.

References: the LoRA paper (arXiv 2106.09685: RoBERTa-base 0.3M, GPT-3 175B 37.7M),
REFERENCE.md's exact values, the published parameter counts of the base models, and
Hugging Face peft's ``get_nb_trainable_parameters`` on the same config, built on the
meta device (no weights allocated on either side).
"""
import re
import warnings

import pytest
from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, VeraConfig, get_peft_model

import peft_edu
from peft_edu import count
from peft_edu.counting import _meta_model
from peft_edu.models import build_preset, preset

# Published sizes of the base models (no task head; GPT-2 and its LM head share weights).
PUBLISHED = {
    ("gpt2", "causal_lm"): 124_439_808, ("gpt2-medium", "causal_lm"): 354_823_168,
    ("gpt2-large", "causal_lm"): 774_030_080, ("gpt2-xl", "causal_lm"): 1_557_611_200,
    ("roberta-base", "base"): 124_645_632, ("roberta-large", "base"): 355_359_744,
    ("all-MiniLM-L6-v2", "base"): 22_713_216, ("Llama-2-7B", "causal_lm"): 6_738_415_616,
    ("Llama-2-13B", "causal_lm"): 13_015_864_320, ("Llama-2-70B", "causal_lm"): 68_976_648_192,
    ("Llama-3-8B", "causal_lm"): 8_030_261_248, ("Mistral-7B", "causal_lm"): 7_241_732_096,
}


# ---------------------------------------------------------------- the papers' numbers
def test_lora_paper_roberta_base():
    c = count("roberta-base", "lora", r=8, targets="query,value")
    assert c["trainable_without_head"] == 294_912  # LoRA paper Table 2: 0.3M
    assert c["adapted_layers"] == 24 and c["n_layers"] == 12
    head = 768 * 768 + 768 + 768 * 2 + 2  # RoBERTa's classification head: dense + out_proj
    assert c["head_params"] == c["head_trainable"] == head == c["trainable"] - 294_912
    assert count("roberta-base", "lora", r=8, targets="query,value", train_head=False)["trainable"] == 294_912


def test_lora_paper_gpt3_175b():
    c = count("GPT-3-175B", "lora", r=8, targets="c_attn")  # fused q|k|v: r·(d + 3d) = q and v's 2·r·2d
    assert c["trainable"] == 37_748_736  # LoRA paper Table 4: 37.7M
    assert c["total"] - c["trainable"] == c["base_total"]
    assert abs(c["base_total"] - 175e9) / 175e9 < 0.005  # "175B" (GPT-3 paper Table 2.1)


def test_one_layer_1000_by_1000():
    assert peft_edu.layer_params("lora", 1000, 1000, r=4) == 8_000
    assert peft_edu.layer_params("full", 1000, 1000) == 1_000_000


@pytest.mark.parametrize("name, task", list(PUBLISHED))
def test_presets_have_their_published_size(name, task):
    assert count(name, "lora", task=task)["base_total"] == PUBLISHED[name, task]


def test_every_preset_is_checked():
    assert {name for name, _ in PUBLISHED} | {"GPT-3-175B"} == set(peft_edu.preset_names())


# ---------------------------------------------------------------- Hugging Face peft, same config
def peft_counts(name: str, config) -> tuple[int, int]:
    model = build_preset(name, meta=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(model, config).get_nb_trainable_parameters()


TASK = {"roberta-base": "SEQ_CLS", "gpt2": "CAUSAL_LM", "Mistral-7B": "CAUSAL_LM"}
TARGETS = {"roberta-base": ["query", "value"], "gpt2": ["c_attn"], "Mistral-7B": ["q_proj", "k_proj", "v_proj", "o_proj"]}
IA3_PLACES = {  # the paper's places, spelled for peft (for BERT its default also catches attention.output.dense)
    "roberta-base": (r".*\.(key|value)|.*layer\.\d+\.output\.dense", r".*layer\.\d+\.output\.dense"),
    "Mistral-7B": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
}


def their_config(name: str, method: str):
    common = {"task_type": TASK[name]}
    if method in ("lora", "dora"):
        return LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS[name], use_dora=method == "dora", **common)
    if method == "vera":
        return VeraConfig(r=64, target_modules=TARGETS[name], **common)
    if method == "ia3":
        targets, feedforward = IA3_PLACES[name]
        return IA3Config(target_modules=targets, feedforward_modules=feedforward, **common)
    config = PromptTuningConfig if method == "prompt_tuning" else PrefixTuningConfig
    return config(num_virtual_tokens=10, **common)


def our_config(name: str, method: str) -> dict:
    if method in ("lora", "dora"):
        return {"r": 8, "alpha": 16, "targets": TARGETS[name]}
    if method == "vera":
        return {"r": 64, "targets": TARGETS[name]}
    return {} if method == "ia3" else {"n_tokens": 10}


CASES = [(n, m) for n in ("roberta-base", "gpt2") for m in ("lora", "dora", "vera", "prompt_tuning", "prefix_tuning")]
CASES += [("roberta-base", "ia3"), ("Mistral-7B", "lora"), ("Mistral-7B", "prefix_tuning"), ("Mistral-7B", "ia3")]


@pytest.mark.parametrize("name, method", CASES)
def test_trainable_equals_peft(name, method):
    ours = count(name, method, **our_config(name, method))
    trainable, total = peft_counts(name, their_config(name, method))
    assert ours["trainable"] == trainable
    # peft's total counts a seq-cls head twice (it keeps the original next to the trainable copy)
    duplicate = ours["head_params"] if TASK[name] == "SEQ_CLS" else 0
    assert ours["total"] == total - duplicate


def test_ia3_gpt2_differs_from_peft_by_the_queries():
    """peft scales all of GPT-2's fused c_attn; the paper (and peft_edu) only keys and values."""
    ours = count("gpt2", "ia3")["trainable"]
    theirs, _ = peft_counts("gpt2", IA3Config(task_type="CAUSAL_LM"))
    assert theirs - ours == 12 * 768


# ---------------------------------------------------------------- the counter itself
def test_grouped_query_attention_shapes():
    c = count("Llama-2-70B", "lora", r=8, targets="q_proj,k_proj,v_proj,o_proj")
    d, kv = 8192, 8 * 128  # k_proj / v_proj output n_kv_heads · head_dim (REFERENCE.md)
    assert c["trainable"] == 80 * 8 * ((d + d) * 2 + (d + kv) * 2)


@pytest.mark.parametrize("name, method, config", [
    ("roberta-base", "lora", {"r": 8}), ("gpt2", "prefix_tuning", {"n_tokens": 5}),
    ("Llama-3-8B", "dora", {"r": 4, "targets": "all-linear"}), ("all-MiniLM-L6-v2", "adapter", {"bottleneck": 16}),
    ("gpt2-medium", "ia3", {}), ("Mistral-7B", "qlora", {"r": 2}), ("roberta-large", "full", {}),
])
def test_extrapolated_equals_every_block_built(name, method, config):
    fast = count(name, method, **config)
    assert count(name, method, full_depth=True, **config) == fast


def test_counts_are_built_on_the_meta_device():
    model = _meta_model('{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, '
                        '"num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100}', "causal_lm", None)
    assert all(p.is_meta for p in model.parameters())
    c = count("GPT-3-175B", "full")  # 175B float32 weights would need 700 GB
    assert c["trainable"] == c["total"] == c["base_total"]


def test_config_dict_and_transformers_config():
    fields = preset("roberta-base")["config"]
    assert count(fields, "lora", r=8)["trainable"] == count("roberta-base", "lora", r=8)["trainable"]
    from peft_edu.models import hf_config

    assert count(hf_config("gpt2"), "vera", r=16)["trainable"] == count("gpt2", "vera", r=16)["trainable"]


def test_percent_and_keys():
    c = count("Llama-2-7B", "lora", r=8)
    assert c["trainable"] == 4_194_304  # q_proj, v_proj (peft's defaults): 32 · 2 · 8 · (4096 + 4096)
    assert c["base_total"] == 6_738_415_616  # Llama 2's published size
    assert c["total"] == 6_742_609_920  # 6,738,415,616 + 4,194,304
    # peft's print_trainable_parameters() on the same config (LoRA r=8 on q_proj, v_proj) prints
    # "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"
    assert c["percent"] == pytest.approx(0.0622059417609, rel=1e-12)  # 100 · 4,194,304 / 6,742,609,920
    assert c["task"] == "causal_lm" and c["model"] == "Llama-2-7B" and c["method"] == "lora"


def test_bad_input_names_the_choices():
    with pytest.raises(ValueError, match=re.escape("unknown model preset 'gpt-5'; choose one of:") + ".*roberta-base"):
        count("gpt-5", "lora")
    with pytest.raises(ValueError, match="unknown method.*lora_fa"):
        count("gpt2", "loraa")
    with pytest.raises(ValueError, match="r must be an integer >= 1, got 0"):
        count("gpt2", "lora", r=0)
    with pytest.raises(ValueError, match="matches no linear layer.*c_attn"):
        count("gpt2", "lora", targets="query")
    with pytest.raises(ValueError, match="unknown option.*n_tokens.*valid: r, alpha"):
        count("gpt2", "lora", n_tokens=4)
    with pytest.raises(ValueError, match="unsupported model_type 't5'"):
        count({"model_type": "t5"}, "lora")
