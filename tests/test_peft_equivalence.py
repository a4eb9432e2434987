"""peft_edu against Hugging Face peft: same base weights, same adapter tensors, same logits.

For (IA)³, prompt tuning and prefix tuning on tiny BERT and GPT-2 configs and on the real
all-MiniLM-L6-v2, peft_edu's adapter tensors are copied into a ``get_peft_model`` model
(the copying spells out how the two layouts correspond) and the logits must agree within
1e-5; the trainable counts must agree with peft's ``get_nb_trainable_parameters``.
"""
import copy
import warnings

import pytest
import torch
from peft import IA3Config, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model

import peft_edu
from peft_edu.methods import ia3
from peft_edu.models import load_pretrained
from tests.tiny import tiny_bert, tiny_gpt2

N = 5  # virtual tokens


@pytest.fixture(scope="module")
def minilm():
    model, tokenizer = load_pretrained(num_labels=2, seed=0)
    texts = ["a gripping, beautifully shot film", "dull"]  # the second one is padded
    enc = tokenizer(texts, padding="max_length", max_length=12, return_tensors="pt")
    return model, (enc["input_ids"], enc["attention_mask"])


def tiny(family):
    ids = torch.randint(2, 100, (2, 7), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    if family == "bert":
        mask[1, 5:] = 0  # padding; GPT-2 under prompt tuning reads the last position (as in peft)
        return tiny_bert(), (ids, mask)
    return tiny_gpt2(), (ids, mask)


def base_and_batch(family, request):
    return request.getfixturevalue("minilm") if family == "minilm" else tiny(family)


def peft_model(base, config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "fan_in_fan_out is set to False" for GPT-2's Conv1D
        return get_peft_model(copy.deepcopy(base), config).eval()


def logits(model, inputs):
    ids, mask = inputs
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


FAMILIES = ["bert", "gpt2", "minilm"]


@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_tuning_matches_peft(family, request):
    base, inputs = base_and_batch(family, request)
    ours = peft_edu.apply(copy.deepcopy(base), "prompt_tuning", n_tokens=N).eval()
    ref = peft_model(base, PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=N))
    with torch.no_grad():  # peft keeps P as an nn.Embedding of the n virtual tokens
        ref.prompt_encoder["default"].embedding.weight.copy_(ours.soft_prompt.P)
    assert torch.allclose(logits(ours, inputs), logits(ref, inputs), atol=1e-5)
    assert peft_edu.trainable_parameters(ours) == ref.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_prefix_tuning_matches_peft(family, request):
    base, inputs = base_and_batch(family, request)
    ours = peft_edu.apply(copy.deepcopy(base), "prefix_tuning", n_tokens=N).eval()
    ref = peft_model(base, PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=N))
    # peft: one (n, L·2·d) table; row t = [layer 0 key, layer 0 value, layer 1 key, ...] of token t
    P_k, P_v = ours.prefix.P_k, ours.prefix.P_v  # (L, n, d) each
    table = torch.stack([P_k, P_v], dim=1).permute(2, 0, 1, 3).reshape(N, -1)
    with torch.no_grad():
        ref.prompt_encoder["default"].embedding.weight.copy_(table)
    assert torch.allclose(logits(ours, inputs), logits(ref, inputs), atol=1e-5)
    assert peft_edu.trainable_parameters(ours) == ref.get_nb_trainable_parameters()[0]


def ia3_layers(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, ia3.IA3)}


@pytest.mark.parametrize("family", FAMILIES)
def test_ia3_matches_peft(family, request):
    base, inputs = base_and_batch(family, request)
    ours = peft_edu.apply(copy.deepcopy(base), "ia3").eval()
    layers = ia3_layers(ours)
    with torch.no_grad():
        for layer in layers.values():  # trained-looking vectors, not the all-ones init
            layer.l.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(len(layer.l)))
    # peft with the paper's placement (its BERT default also scales the attention output projection)
    ffn = [name for name, m in layers.items() if m.side == "in"]
    ref = peft_model(base, IA3Config(task_type=TaskType.SEQ_CLS, target_modules=list(layers),
                                     feedforward_modules=ffn))
    with torch.no_grad():
        for name, layer in layers.items():
            target = ref.base_model.model.get_submodule(name).ia3_l["default"]  # (d_out, 1) or (1, d_in)
            target.copy_(layer.scale().view_as(target))  # GPT-2: ones over the queries of c_attn
    assert torch.allclose(logits(ours, inputs), logits(ref, inputs), atol=1e-5)
    # peft's vector on GPT-2's fused c_attn also covers the queries (d per layer more than the paper)
    queries = base.config.num_hidden_layers * base.config.hidden_size if family == "gpt2" else 0
    assert peft_edu.trainable_parameters(ours) + queries == ref.get_nb_trainable_parameters()[0]
