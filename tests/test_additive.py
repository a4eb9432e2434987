"""Prompt tuning, prefix tuning, Houlsby adapters and (IA)³ on BERT, GPT-2 and all-MiniLM-L6-v2.

References are the papers' closed forms (computed here from the config numbers, not from
peft_edu), the frozen base model itself, and plain arithmetic; Hugging Face peft is in
test_peft_equivalence.py.
"""
import copy

import pytest
import torch
from transformers import BertModel, GPT2Model

import peft_edu
from peft_edu.methods import adapter, ia3, prefix_tuning, prompt_tuning
from tests.tiny import batch, tiny_bert, tiny_gpt2

METHODS = {"prompt_tuning": {"n_tokens": 5}, "prefix_tuning": {"n_tokens": 5},
           "adapter": {"bottleneck": 4}, "ia3": {}}


def closed_form(method: str, cfg) -> int:
    """The papers' counts from the config numbers alone (d, L, d_ff)."""
    d, L, d_ff = cfg.hidden_size, cfg.num_hidden_layers, getattr(cfg, "intermediate_size", None) or 4 * cfg.hidden_size
    opts = METHODS[method]
    if method == "prompt_tuning":
        return opts["n_tokens"] * d  # n · d
    if method == "prefix_tuning":
        return opts["n_tokens"] * L * 2 * d  # n · L · 2 · d
    if method == "adapter":
        m = opts["bottleneck"]
        return L * (2 * (2 * d * m + d + m) + 2 * 2 * d)  # two adapters + two layer norms per block
    return L * (2 * d + d_ff)  # (IA)³: l_k, l_v (d each), l_ff (d_ff)


def models():
    return {"bert": tiny_bert(), "gpt2": tiny_gpt2()}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("family", ["bert", "gpt2", "minilm"])
def test_closed_form_equals_counted(method, family, request):
    model = request.getfixturevalue("minilm") if family == "minilm" else models()[family]
    model = copy.deepcopy(model)
    peft_edu.apply(model, method, train_head=False, **METHODS[method])
    assert peft_edu.trainable_parameters(model) == closed_form(method, model.config)


def _bert_base_arch():
    """BERT-base / RoBERTa-base dimensions (12 layers, d 768, FFN 3072), from its config alone."""
    from peft_edu.models import arch_from_config, hf_config

    return arch_from_config(hf_config("roberta-base"))


def test_module_closed_forms_match_the_papers():
    arch = _bert_base_arch()
    assert prompt_tuning.model_params(arch, prompt_tuning.Config(n_tokens=20)) == 15_360  # 20 · 768
    assert prefix_tuning.model_params(arch, prefix_tuning.Config(n_tokens=10)) == 184_320  # 10 · 12 · 2 · 768
    assert adapter.layer_params(768, 768, adapter.Config(bottleneck=64)) == 99_136  # 2·768·64 + 768 + 64
    assert adapter.model_params(arch, adapter.Config(bottleneck=64, train_layer_norm=False)) == 2_379_264  # 12·2·99,136
    assert ia3.layer_params(768, 768, ia3.Config()) == 768
    assert ia3.model_params(arch, ia3.Config()) == 55_296  # 12 · (768 + 768 + 3072)
    for module in (prompt_tuning, prefix_tuning):
        with pytest.raises(ValueError, match="per"):
            module.layer_params(10, 10, module.Config())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_optimizer_step_changes_only_the_method(method, family):
    base = models()[family]
    model = peft_edu.apply(copy.deepcopy(base), method, train_head=False, **METHODS[method]).train()
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids, mask = batch()
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2])).loss.backward()
    opt.step()
    params = dict(model.named_parameters())
    assert all(torch.equal(params[n], before) for n, before in frozen.items())
    moved = [n for n, before in trainable.items() if not torch.equal(params[n], before)]
    assert moved, "no trainable parameter moved"
    base_names = {n for n, _ in base.named_parameters()}
    if method != "adapter":  # the adapter trains the blocks' layer norms too (paper §2.1)
        assert not any(n.replace(".base.", ".") in base_names for n in trainable)


@pytest.mark.parametrize("method", ["adapter", "ia3"])
@pytest.mark.parametrize("family", ["bert", "gpt2", "minilm"])
def test_output_equals_base_at_init(method, family, request):
    base = request.getfixturevalue("minilm") if family == "minilm" else models()[family]
    model = peft_edu.apply(copy.deepcopy(base), method, **METHODS[method])
    ids, mask = batch(vocab=base.config.vocab_size)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids, attention_mask=mask).logits,
                           base(input_ids=ids, attention_mask=mask).logits)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning"])
@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_soft_prompts_change_the_output_and_get_gradients(method, family):
    base = models()[family]
    model = peft_edu.apply(copy.deepcopy(base), method, train_head=False, **METHODS[method])
    ids, mask = batch()
    logits = model(input_ids=ids, attention_mask=mask).logits
    assert logits.shape == base(input_ids=ids, attention_mask=mask).logits.shape
    assert not torch.allclose(logits, base(input_ids=ids, attention_mask=mask).logits)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_prompt_tuning_bare_models_see_n_more_positions():
    for base in (tiny_bert(BertModel), tiny_gpt2(GPT2Model)):
        model = peft_edu.apply(copy.deepcopy(base), "prompt_tuning", n_tokens=5)
        ids, mask = batch()
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        assert hidden.shape == (2, 5 + 7, 32)
        # the virtual tokens are exactly the trainable prompt P fed in place of word embeddings
        embeds = torch.cat([model.soft_prompt.P.expand(2, -1, -1), base.get_input_embeddings()(ids)], 1)
        full_mask = torch.cat([torch.ones(2, 5, dtype=mask.dtype), mask], 1)
        expected = base(inputs_embeds=embeds, attention_mask=full_mask).last_hidden_state
        assert torch.allclose(hidden, expected, atol=1e-6)


def test_prefix_tuning_equals_attention_over_extra_keys_and_values():
    """One BERT layer by hand: softmax(q [P_k; K]ᵀ / √d_h) [P_v; V], the paper's formula."""
    base = tiny_bert(BertModel)
    base.config.num_hidden_layers = 1
    base.encoder.layer = base.encoder.layer[:1]
    model = peft_edu.apply(copy.deepcopy(base), "prefix_tuning", n_tokens=3)
    ids = batch(pad=False)[0]
    x = base.embeddings(input_ids=ids, position_ids=torch.arange(3, 10).unsqueeze(0))  # positions after the prefix
    att = base.encoder.layer[0].attention
    heads = lambda t: t.view(2, -1, 4, 8).transpose(1, 2)  # (B, heads, T, 8)
    P_k, P_v = (p[0].expand(2, -1, -1) for p in (model.prefix.P_k, model.prefix.P_v))
    q = heads(att.self.query(x))
    k, v = heads(torch.cat([P_k, att.self.key(x)], 1)), heads(torch.cat([P_v, att.self.value(x)], 1))
    ctx = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, -1) @ v  # (B, heads, T, 8)
    h = att.output(ctx.transpose(1, 2).reshape(2, 7, 32), x)
    expected = base.encoder.layer[0].output(base.encoder.layer[0].intermediate(h), h)
    assert torch.allclose(model(input_ids=ids).last_hidden_state, expected, atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "gpt2", "minilm"])
def test_ia3_merged_equals_unmerged(family, request):
    base = request.getfixturevalue("minilm") if family == "minilm" else models()[family]
    model = peft_edu.apply(copy.deepcopy(base), "ia3")
    with torch.no_grad():
        for layer in (m for m in model.modules() if isinstance(m, ia3.IA3)):
            layer.l.uniform_(0.5, 1.5)
    ids, mask = batch(vocab=base.config.vocab_size)
    with torch.no_grad():
        unmerged = model(input_ids=ids, attention_mask=mask).logits
        merged = peft_edu.merge(model)(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(merged, unmerged, atol=1e-5)
        again = peft_edu.unmerge(model)(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(again, unmerged, atol=1e-5)


def test_ia3_gpt2_leaves_queries_alone():
    """GPT-2's c_attn makes [q | k | v]; the paper scales only keys and values."""
    base = tiny_gpt2(GPT2Model)
    model = peft_edu.apply(copy.deepcopy(base), "ia3")
    layer = model.h[0].attn.c_attn
    assert layer.l.shape == (2 * 32,)
    with torch.no_grad():
        layer.l.fill_(2.0)
        x = torch.randn(3, 32)
        y, y0 = layer(x), base.h[0].attn.c_attn(x)
    assert torch.equal(y[:, :32], y0[:, :32]) and torch.allclose(y[:, 32:], 2 * y0[:, 32:])


def test_adapter_is_where_the_paper_puts_it():
    model = peft_edu.apply(tiny_bert(), "adapter", bottleneck=4)
    block = model.bert.encoder.layer[0]
    assert isinstance(block.attention.output.dense, adapter.WithAdapter)  # after the attention projection
    assert isinstance(block.output.dense, adapter.WithAdapter)  # after the FFN projection
    assert block.output.LayerNorm.weight.requires_grad and not block.intermediate.dense.weight.requires_grad
    frozen_norms = peft_edu.apply(tiny_gpt2(), "adapter", bottleneck=4, train_layer_norm=False)
    assert not frozen_norms.transformer.h[0].ln_1.weight.requires_grad


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="n_tokens must be >= 1"):
        peft_edu.apply(tiny_bert(), "prompt_tuning", n_tokens=0)
    with pytest.raises(ValueError, match="bottleneck must be >= 1"):
        peft_edu.apply(tiny_bert(), "adapter", bottleneck=0)
    with pytest.raises(ValueError, match="activation must be one of gelu, relu"):
        peft_edu.apply(tiny_bert(), "adapter", activation="tanh")
    for method in METHODS:
        with pytest.raises(ValueError, match="not 'mlp'"):
            peft_edu.apply(peft_edu.toy_mlp(), method)
    model = peft_edu.apply(tiny_bert(), "prefix_tuning", n_tokens=2)
    with pytest.raises(ValueError, match="supplies past_key_values itself"):
        model(input_ids=batch()[0], past_key_values=model.prefix.cache(2, torch.float32))
