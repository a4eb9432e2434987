"""LN tuning (arXiv 2312.11420) against closed forms and Hugging Face peft's LN_TUNING.

Independent references: the norms of the tiny models counted by hand (2·d per LayerNorm,
d per RMSNorm, literal numbers); peft's get_nb_trainable_parameters on the same model; our
saved adapter loading in ``PeftModel.from_pretrained`` and a peft-saved one loading into
ours, both with equal logits.
"""
import copy
import warnings

import pytest
import torch
from peft import LNTuningConfig, PeftModel, get_peft_model

import peft_edu
from tests.tiny import batch, family_logits, tiny_bert, tiny_gpt2, tiny_llama

FAMILIES = {"bert": tiny_bert, "gpt2": tiny_gpt2}
PEFT_TARGETS = {"bert": ["LayerNorm"], "gpt2": ["ln_1", "ln_2", "ln_f"]}


logits = family_logits


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft: "Unsupported layer type LayerNorm", fan_in_fan_out notices
        return fn(*args, **kwargs)


def moved(model):
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
    return model


def test_counts_written_out():
    assert peft_edu.layer_params("ln_tuning", 768, 768) == 1_536  # one LayerNorm of width 768: 2 d
    # tiny BERT, d 32: embeddings LN + 2 per block = 5 norms · 64 = 320; GPT-2: 2 per block + ln_f = 320
    assert peft_edu.trainable_parameters(peft_edu.apply(tiny_bert(), "ln_tuning", train_head=False)) == 320
    assert peft_edu.trainable_parameters(peft_edu.apply(tiny_gpt2(), "ln_tuning", train_head=False)) == 320
    # tiny Llama: 5 RMSNorms, gain only: 5 · 32 = 160
    assert peft_edu.trainable_parameters(peft_edu.apply(tiny_llama(), "ln_tuning")) == 160
    # RoBERTa-base: 25 LayerNorms of width 768: 25 · 1,536 = 38,400; Llama-2-7B: 65 RMSNorms · 4096
    assert peft_edu.count("roberta-base", "ln_tuning")["trainable_without_head"] == 38_400
    assert peft_edu.count("Llama-2-7B", "ln_tuning")["trainable_without_head"] == 266_240


def test_toy_mlp_has_no_norms():
    with pytest.raises(ValueError, match="normalisation layers"):
        peft_edu.apply(peft_edu.toy_mlp(), "ln_tuning")


@pytest.mark.parametrize("family", FAMILIES)
def test_same_trainable_count_and_logits_as_peft(family):
    base = FAMILIES[family]()
    ours = moved(peft_edu.apply(copy.deepcopy(base), "ln_tuning"))
    config = LNTuningConfig(task_type="SEQ_CLS", target_modules=PEFT_TARGETS[family])
    theirs = quiet(get_peft_model, copy.deepcopy(base), config)
    assert theirs.get_nb_trainable_parameters()[0] == peft_edu.trainable_parameters(ours)
    head = "classifier" if family == "bert" else "score"
    with torch.no_grad():  # the same values in peft's trained copies of the norms
        for name, p in ours.named_parameters():
            if p.requires_grad and not name.startswith(head):
                module, leaf = name.rsplit(".", 1)
                layer = theirs.base_model.model.get_submodule(module)
                getattr(layer.ln_tuning_layers["default"], leaf).copy_(p)
        theirs.base_model.model.get_submodule(head).modules_to_save["default"].load_state_dict(
            ours.get_submodule(head).state_dict())
    torch.testing.assert_close(logits(theirs.eval(), family), logits(ours, family), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_peft_loads_ours_and_ours_loads_peft(family, tmp_path):
    base = FAMILIES[family]()
    ours = moved(peft_edu.apply(copy.deepcopy(base), "ln_tuning"))
    peft_edu.save_adapter(ours, tmp_path / "ours")
    theirs = quiet(PeftModel.from_pretrained, copy.deepcopy(base), str(tmp_path / "ours")).eval()
    torch.testing.assert_close(logits(theirs, family), logits(ours, family), rtol=1e-5, atol=1e-5)

    trained = moved(quiet(get_peft_model, copy.deepcopy(base),
                          LNTuningConfig(task_type="SEQ_CLS", target_modules=PEFT_TARGETS[family])))
    trained.save_pretrained(str(tmp_path / "theirs"))
    again = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "theirs")
    assert peft_edu.applied(again).method == "ln_tuning"
    torch.testing.assert_close(logits(again, family), logits(trained.eval(), family), rtol=1e-5, atol=1e-5)
