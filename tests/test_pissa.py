"""PiSSA (arXiv 2404.02948) against its definition and Hugging Face peft's init "pissa".

Independent references: numpy's SVD of W (A·B is the top-r part, residual + s·B·A is W);
peft's LoRA layer with init_lora_weights="pissa" on the same base (the same A, B, W_res and
logits); peft loading our saved adapter on the unmodified base and ours loading peft's; the
rank-2r LoRA export, loaded by peft onto the unmodified base, giving the same logits.
"""
import copy
import warnings

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

import peft_edu
from peft_edu.methods import pissa
from peft_edu.methods.layers import base_weight
from tests.tiny import batch, family_logits, quiet, tiny_bert, tiny_gpt2

TARGETS = {"bert": ["query", "value"], "gpt2": ["c_attn"]}
FAMILIES = {"bert": tiny_bert, "gpt2": tiny_gpt2}
R, ALPHA = 4, 8.0  # scaling s = 2, so the sqrt(S / s) split is tested too


logits = family_logits


def peft_pissa(base, family):
    config = LoraConfig(r=R, lora_alpha=ALPHA, init_lora_weights="pissa", target_modules=TARGETS[family],
                        task_type="SEQ_CLS", fan_in_fan_out=family == "gpt2")
    return quiet(get_peft_model, copy.deepcopy(base), config).eval()


def trained(model):
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


def test_counts_are_loras():
    assert peft_edu.layer_params("pissa", 1000, 1000, r=4) == 8_000
    assert peft_edu.count("roberta-base", "pissa", r=8)["trainable_without_head"] == 294_912


@pytest.mark.parametrize("family", FAMILIES)
def test_factors_are_the_top_r_svd_and_the_residual_restores_w(family):
    base = FAMILIES[family]()
    model = peft_edu.apply(copy.deepcopy(base), "pissa", r=R, alpha=ALPHA)
    s = ALPHA / R
    for name in peft_edu.applied(model).arch.targets:
        layer = model.get_submodule(name)
        W0 = base_weight(base.get_submodule(name)).detach().double().numpy()
        U, S, Vt = np.linalg.svd(W0, full_matrices=False)
        top = (U[:, :R] * S[:R]) @ Vt[:R]  # the principal part U_r S_r V_rᵀ
        BA = (layer.B @ layer.A).detach().double().numpy()
        np.testing.assert_allclose(s * BA, top, atol=2e-5)
        residual = base_weight(layer.base).detach().double().numpy()
        np.testing.assert_allclose(residual + s * BA, W0, atol=2e-6)
        np.testing.assert_allclose(np.linalg.svd(residual, compute_uv=False)[: len(S) - R], S[R:], atol=2e-5)
    torch.testing.assert_close(logits(model, family), logits(base, family), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_equal_to_peft_on_shared_weights(family):
    base = FAMILIES[family]()
    ours = peft_edu.apply(copy.deepcopy(base), "pissa", r=R, alpha=ALPHA)
    theirs = peft_pissa(base, family)
    for name in peft_edu.applied(ours).arch.targets:  # peft's own SVD init gives the same tensors
        mine, layer = ours.get_submodule(name), theirs.base_model.model.get_submodule(name)
        torch.testing.assert_close(mine.A, layer.lora_A["default"].weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(mine.B, layer.lora_B["default"].weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(base_weight(mine.base), base_weight(layer.base_layer), rtol=1e-5, atol=1e-6)
    trained(ours)
    with torch.no_grad():
        for name in peft_edu.applied(ours).arch.targets:
            layer = theirs.base_model.model.get_submodule(name)
            layer.lora_A["default"].weight.copy_(ours.get_submodule(name).A)
            layer.lora_B["default"].weight.copy_(ours.get_submodule(name).B)
        head = "classifier" if family == "bert" else "score"
        theirs.base_model.model.get_submodule(head).modules_to_save["default"].load_state_dict(
            ours.get_submodule(head).state_dict())
    torch.testing.assert_close(logits(theirs, family), logits(ours, family), rtol=1e-5, atol=1e-5)
    assert theirs.get_nb_trainable_parameters()[0] == peft_edu.trainable_parameters(ours)


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_with_peft(family, tmp_path):
    base = FAMILIES[family]()
    ours = trained(peft_edu.apply(copy.deepcopy(base), "pissa", r=R, alpha=ALPHA))
    peft_edu.save_adapter(ours, tmp_path / "ours")
    theirs = quiet(PeftModel.from_pretrained, copy.deepcopy(base), str(tmp_path / "ours")).eval()  # unmodified base
    assert theirs.peft_config["default"].init_lora_weights == "pissa"
    torch.testing.assert_close(logits(theirs, family), logits(ours, family), rtol=1e-5, atol=1e-5)
    again = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "ours")
    assert peft_edu.applied(again).method == "pissa"
    torch.testing.assert_close(logits(again, family), logits(ours, family), rtol=1e-5, atol=1e-5)

    peft_trained = trained(peft_pissa(base, family))
    quiet(peft_trained.save_pretrained, str(tmp_path / "theirs"))
    mine = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "theirs")  # no metadata: read from the config
    assert peft_edu.applied(mine).method == "pissa"
    torch.testing.assert_close(logits(mine, family), logits(peft_trained, family), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_rank_2r_lora_for_the_unmodified_base(family, tmp_path):
    base = FAMILIES[family]()
    ours = trained(peft_edu.apply(copy.deepcopy(base), "pissa", r=R, alpha=ALPHA))
    as_lora = pissa.as_lora(ours, copy.deepcopy(base))
    first = as_lora.get_submodule(peft_edu.applied(as_lora).arch.targets[0])
    assert first.A.shape[0] == 2 * R and first.scaling == ALPHA / R
    torch.testing.assert_close(logits(as_lora, family), logits(ours, family), rtol=1e-5, atol=1e-5)
    peft_edu.save_adapter(as_lora, tmp_path)
    theirs = quiet(PeftModel.from_pretrained, copy.deepcopy(base), str(tmp_path)).eval()
    assert theirs.peft_config["default"].r == 2 * R and theirs.peft_config["default"].init_lora_weights is True
    torch.testing.assert_close(logits(theirs, family), logits(ours, family), rtol=1e-5, atol=1e-5)


def test_merged_equals_unmerged_and_plain_lora_files_stay_lora(tmp_path):
    model = trained(peft_edu.apply(tiny_bert(), "pissa", r=R, alpha=ALPHA))
    before = logits(model, "bert")
    peft_edu.merge(model)
    torch.testing.assert_close(logits(model, "bert"), before, rtol=1e-5, atol=1e-5)
    peft_edu.unmerge(model)
    lora = peft_edu.apply(tiny_bert(), "lora", r=R)
    peft_edu.save_adapter(lora, tmp_path)
    assert peft_edu.export._method_of(__import__("json").loads((tmp_path / "adapter_config.json").read_text()),
                                      {}, {})[0] == "lora"
