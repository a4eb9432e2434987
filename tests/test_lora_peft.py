"""LoRA, DoRA and VeRA against Hugging Face peft: same base weights, same adapter tensors.

peft_edu's A, B (DoRA: and m; VeRA: b, d) are copied into a ``get_peft_model`` model of the
same base; the logits must agree within 1e-5 and the trainable counts must be equal. For
VeRA the shared random pair is not copied: drawn from the same seed, it must already be
peft's.
"""
import copy
import warnings

import pytest
import torch
from peft import LoraConfig, VeraConfig, get_peft_model

import peft_edu
from peft_edu.models import load_pretrained
from tests.tiny import randomize_adapters, tiny_bert, tiny_gpt2

TARGETS = {"bert": ["query", "value"], "gpt2": ["c_attn"], "minilm": ["query", "value"]}


@pytest.fixture(scope="module")
def minilm():
    model, tokenizer = load_pretrained(num_labels=2, seed=0)
    enc = tokenizer(["a gripping, beautifully shot film", "dull"], padding="max_length",
                    max_length=12, return_tensors="pt")
    return model, dict(enc)


def base_and_inputs(family, minilm):
    if family == "minilm":
        return minilm
    ids = torch.randint(2, 100, (2, 7), generator=torch.Generator().manual_seed(3))
    return (tiny_bert() if family == "bert" else tiny_gpt2()), {"input_ids": ids}


def peft_model(base, method, family, r):
    common = dict(r=r, target_modules=TARGETS[family], task_type="SEQ_CLS",
                  fan_in_fan_out=family == "gpt2")
    if method == "vera":
        config = VeraConfig(d_initial=0.1, projection_prng_key=0, **common)
    else:
        config = LoraConfig(lora_alpha=2 * r, use_dora=method == "dora", **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fan_in_fan_out / modules_to_save notices
        return get_peft_model(base, config).eval()


def copy_adapters(ours, theirs, method) -> None:
    """Our tensors into peft's modules: A -> lora_A.weight (r, d_in), B -> lora_B.weight (d_out, r)."""
    with torch.no_grad():
        for name in peft_edu.applied(ours).arch.targets:
            mine = ours.get_submodule(name)
            peft_layer = theirs.base_model.model.get_submodule(name)
            if method == "vera":
                peft_layer.vera_lambda_b["default"].copy_(mine.b)
                peft_layer.vera_lambda_d["default"].copy_(mine.d)
                continue
            peft_layer.lora_A["default"].weight.copy_(mine.A)
            peft_layer.lora_B["default"].weight.copy_(mine.B)
            if method == "dora":
                peft_layer.lora_magnitude_vector["default"].weight.copy_(mine.m)


@pytest.mark.parametrize("family", ["bert", "gpt2", "minilm"])
@pytest.mark.parametrize("method", ["lora", "dora", "vera"])
def test_logits_and_counts_match_peft(method, family, minilm):
    base, inputs = base_and_inputs(family, minilm)
    r = 4
    cfg = {"r": r} if method == "vera" else {"r": r, "alpha": 2 * r}
    ours = peft_edu.apply(copy.deepcopy(base), method, targets=TARGETS[family], **cfg)
    theirs = peft_model(copy.deepcopy(base), method, family, r)
    assert peft_edu.trainable_parameters(ours) == theirs.get_nb_trainable_parameters()[0]
    if method == "vera":  # same seed, same draw: the shared pair must be identical
        torch.testing.assert_close(ours.vera_shared.vera_A, theirs.base_model.vera_A["default"], rtol=0, atol=0)
        torch.testing.assert_close(ours.vera_shared.vera_B, theirs.base_model.vera_B["default"], rtol=0, atol=0)
    randomize_adapters(ours)
    copy_adapters(ours, theirs, method)
    with torch.no_grad():
        mine, peft_out, plain = (m(**inputs, output_hidden_states=True) for m in (ours, theirs, base))
    # the tiny models' logits are ~1e-2 (0.02-std head), so also compare the O(1) last hidden state
    assert not torch.allclose(mine.hidden_states[-1], plain.hidden_states[-1], atol=1e-2)  # adapters matter
    torch.testing.assert_close(mine.logits, peft_out.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.hidden_states[-1], peft_out.hidden_states[-1], rtol=0, atol=1e-5)
