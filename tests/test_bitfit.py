"""BitFit (arXiv 2106.10199) against closed forms written out and its own saved format.

Independent references: every bias of the tiny models counted by hand (literal numbers);
the paper's "0.08 % of BERT-large"; the base weights bit-for-bit unchanged after a step;
the own-format file holding exactly the biases and loading back to equal logits.
"""
import copy
import json

import pytest
import torch

import peft_edu
from peft_edu.export import WEIGHTS
from safetensors import safe_open
from tests.tiny import batch, tiny_bert, tiny_gpt2, tiny_llama


def logits(model, inputs):
    ids, mask = inputs
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def test_layer_count_is_the_bias():
    assert peft_edu.layer_params("bitfit", 1000, 1000) == 1_000  # d_out
    assert peft_edu.layer_params("bitfit", 3072, 768) == 3_072


def test_tiny_bert_trains_exactly_its_biases():
    # d 32, d_ff 64, 2 blocks. Per block: q, k, v, o 4·32 + intermediate 64 + output 32 + two
    # LayerNorm biases 2·32 = 288; two blocks 576; embeddings LayerNorm 32; pooler 32: 640.
    model = peft_edu.apply(tiny_bert(), "bitfit", train_head=False)
    assert peft_edu.trainable_parameters(model) == 640
    assert all(name.endswith(".bias") for name, p in model.named_parameters() if p.requires_grad)
    assert peft_edu.trainable_parameters(peft_edu.apply(tiny_bert(), "bitfit")) == 640 + 32 * 3 + 3  # + head


def test_tiny_gpt2_and_llama():
    # GPT-2 block: c_attn 96 + c_proj 32 + c_fc 128 + mlp.c_proj 32 + ln_1, ln_2 64 = 352; 2 blocks + ln_f 32
    assert peft_edu.trainable_parameters(peft_edu.apply(tiny_gpt2(), "bitfit", train_head=False)) == 736
    assert peft_edu.trainable_parameters(peft_edu.apply(tiny_llama(), "bitfit")) == 0  # Llama has no biases


def test_whole_model_counts_match_the_paper():
    # BERT-large: 24 · (7 · 1024 + 4096) + 1024 = 271,360 without the pooler: 0.08 % of 335M (paper §3.1)
    c = peft_edu.count("roberta-base", "bitfit")
    assert c["trainable_without_head"] == 12 * (7 * 768 + 3072) + 768 == 102_144  # RoBERTa: no pooler
    assert 0.07 < 100 * c["trainable_without_head"] / c["base_total"] < 0.09
    from peft_edu.methods import bitfit
    from peft_edu.models import arch_from_config, hf_config, preset

    arch = arch_from_config(hf_config(preset("roberta-base")["config"]))
    assert bitfit.model_params(arch, bitfit.Config()) == 102_144


def test_equal_to_base_at_start_and_weights_stay_after_a_step():
    base = tiny_bert()
    model = peft_edu.apply(copy.deepcopy(base), "bitfit")
    inputs = batch()
    torch.testing.assert_close(logits(model, inputs), logits(base, inputs), rtol=0, atol=0)
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids, mask = inputs
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2])).loss.backward()
    opt.step()
    assert all(torch.equal(p, weights[n]) for n, p in model.named_parameters() if n in weights)
    assert not torch.allclose(logits(model, inputs), logits(base, inputs))


def test_own_format_holds_the_biases_and_loads_back(tmp_path):
    model = peft_edu.apply(tiny_bert(), "bitfit")
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1)
    peft_edu.save_adapter(model, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "PEFT_EDU" and config["method"] == "bitfit"
    with safe_open(str(tmp_path / WEIGHTS), framework="pt") as f:
        keys = set(f.keys())
    assert "bert.encoder.layer.0.attention.self.query.bias" in keys and "classifier.weight" in keys
    assert len(keys) == 2 * (6 + 2) + 1 + 1 + 2  # 8 biases per block, embeddings LN, pooler, head
    again = peft_edu.load_adapter(tiny_bert(), tmp_path)
    assert peft_edu.applied(again).method == "bitfit"
    inputs = batch()
    torch.testing.assert_close(logits(again, inputs), logits(model, inputs), rtol=0, atol=0)


def test_recorded_lab_runs_match_the_counts():
    """The lesson's recorded runs (scripts/measure_baselines.py) trained what the count says."""
    from peft_edu.lessons.baselines import baseline_runs

    runs = {run.method: run for run in baseline_runs()}
    for method in ("bitfit", "ln_tuning"):
        assert runs[method].trainable == peft_edu.count("all-MiniLM-L6-v2", method)["trainable_without_head"]
    assert runs["bitfit"].trainable == 6 * (7 * 384 + 1536) + 384 + 384 == 26_112  # + embeddings LN, pooler
    assert runs["ln_tuning"].trainable == 13 * 2 * 384 == 9_984
