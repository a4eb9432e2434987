"""rsLoRA (arXiv 2312.03732) against its definition and Hugging Face peft's LORA with use_rslora.

Independent references: the scaling α/√r written out; peft's LoRA layer with
``use_rslora=True`` on the same base weights and the same A, B (logits within 1e-5);
peft's trainable count; peft loading our saved adapter and ours loading peft's.
"""
import copy
import math
import warnings

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

import peft_edu
from peft_edu.methods.lora import LoRALinear
from tests.tiny import batch, randomize_adapters, tiny_bert, tiny_gpt2

TARGETS = {"bert": ["query", "value"], "gpt2": ["c_attn"]}
R, ALPHA = 4, 8.0


def base(family):
    return tiny_bert() if family == "bert" else tiny_gpt2()


def theirs_for(model, family):
    config = LoraConfig(r=R, lora_alpha=ALPHA, use_rslora=True, target_modules=TARGETS[family],
                        task_type="SEQ_CLS", fan_in_fan_out=family == "gpt2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fan_in_fan_out / modules_to_save notices
        return get_peft_model(copy.deepcopy(model), config).eval()


def logits(model, inputs):
    ids, mask = inputs
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def test_scaling_is_alpha_over_sqrt_r():
    model = peft_edu.apply(tiny_bert(), "rslora", r=16, alpha=16.0)
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    assert layers and {m.scaling for m in layers} == {4.0}  # 16 / √16
    lora = peft_edu.apply(tiny_bert(), "lora", r=16, alpha=16.0)
    assert {m.scaling for m in lora.modules() if isinstance(m, LoRALinear)} == {1.0}  # 16 / 16


def test_counts_are_loras():
    assert peft_edu.layer_params("rslora", 1000, 1000, r=4) == 8_000  # r (d_in + d_out)
    assert peft_edu.count("roberta-base", "rslora", r=8)["trainable_without_head"] == 294_912


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_logits_equal_peft_with_use_rslora(family):
    ours = peft_edu.apply(base(family), "rslora", r=R, alpha=ALPHA, targets=TARGETS[family])
    randomize_adapters(ours)  # B ≠ 0, so the scaling matters
    theirs = theirs_for(base(family), family)
    with torch.no_grad():
        for name in peft_edu.applied(ours).arch.targets:
            layer = theirs.base_model.model.get_submodule(name)
            layer.lora_A["default"].weight.copy_(ours.get_submodule(name).A)
            layer.lora_B["default"].weight.copy_(ours.get_submodule(name).B)
            assert layer.scaling["default"] == pytest.approx(ALPHA / math.sqrt(R))
    inputs = batch()
    torch.testing.assert_close(logits(ours, inputs), logits(theirs, inputs), rtol=1e-5, atol=1e-5)
    trainable, _ = theirs.get_nb_trainable_parameters()  # A, B and the head's trainable copy
    assert peft_edu.trainable_parameters(ours) == trainable


def test_merged_equals_unmerged():
    model = peft_edu.apply(tiny_bert(), "rslora", r=R, alpha=ALPHA)
    randomize_adapters(model)
    inputs = batch()
    before = logits(model, inputs)
    peft_edu.merge(model)
    torch.testing.assert_close(logits(model, inputs), before, rtol=1e-5, atol=1e-5)
    peft_edu.unmerge(model)
    torch.testing.assert_close(logits(model, inputs), before, rtol=1e-5, atol=1e-5)


def test_saved_adapter_loads_in_peft_and_back(tmp_path):
    ours = peft_edu.apply(tiny_bert(), "rslora", r=R, alpha=ALPHA)
    randomize_adapters(ours)
    peft_edu.save_adapter(ours, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = PeftModel.from_pretrained(tiny_bert(), tmp_path).eval()
    assert theirs.peft_config["default"].use_rslora is True
    inputs = batch()
    torch.testing.assert_close(logits(theirs, inputs), logits(ours, inputs), rtol=1e-5, atol=1e-5)
    again = peft_edu.load_adapter(tiny_bert(), tmp_path)
    assert peft_edu.applied(again).method == "rslora"
    torch.testing.assert_close(logits(again, inputs), logits(ours, inputs), rtol=0, atol=0)
