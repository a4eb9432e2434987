"""LoKr (arXiv 2309.14859) against Hugging Face peft's LOKR and against numpy.

Independent references: peft's ``factorization`` and LoKr layers on the same base with the
same (non-zero) factors — equal ΔW, logits, also in training with rank and module dropout
on one seed, and equal trainable counts (``get_nb_trainable_parameters``); peft loading our
saved adapter and ours loading peft's; ``numpy.kron`` for ΔW and numpy's ranks for
rank(C ⊗ D) = rank C · rank D; counts written out from the factor sizes by hand.
"""
import copy
import warnings

import numpy as np
import pytest
import torch
from peft import LoKrConfig, PeftModel, get_peft_model
from peft.tuners.lokr.layer import factorization as peft_factorization

import peft_edu
from peft_edu.methods import lokr
from tests.tiny import batch, tiny_bert, tiny_gpt2

TARGETS = ["query", "value", "intermediate.dense"]  # 32 -> 32 and 32 -> 64 layers
CONFIGS = {  # tiny BERT: 32 = 4 · 8, 64 = 8 · 8, so D is low-rank for r < 4 and C for r < 2
    "full-D": dict(r=4, alpha=8.0),
    "low-rank-D": dict(r=2, alpha=8.0),
    "both-low-rank": dict(r=1, alpha=2.0, decompose_both=True),
    "factor-2": dict(r=4, alpha=4.0, decompose_factor=2),
    "lycoris-init": dict(r=2, alpha=4.0, init="lycoris"),
}
PEFT_INIT = {"peft": True, "lycoris": "lycoris"}


def logits(model):
    ids, mask = batch()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # modules_to_save notices
        return fn(*args, **kwargs)


def peft_lokr(base, cfg: dict):
    c = lokr.Config(**cfg)
    config = LoKrConfig(r=c.r, alpha=c.alpha, decompose_both=c.decompose_both, decompose_factor=c.decompose_factor,
                        rank_dropout=c.rank_dropout, rank_dropout_scale=c.rank_dropout_scale,
                        module_dropout=c.module_dropout, init_weights=PEFT_INIT[c.init],
                        target_modules=TARGETS, task_type="SEQ_CLS")
    return quiet(get_peft_model, copy.deepcopy(base), config).eval()


def randomize(model, seed=3):
    """Every trainable tensor moved off its init: peft starts C (or D) at zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return model


def share(ours, theirs):
    """Copy ours (factors and head) into peft's model."""
    with torch.no_grad():
        for name in peft_edu.applied(ours).arch.targets:
            mine, layer = ours.get_submodule(name), theirs.base_model.model.get_submodule(name)
            for factor in lokr.FACTORS:
                if getattr(mine, factor) is not None:
                    getattr(layer, factor)["default"].copy_(getattr(mine, factor))
        theirs.base_model.model.classifier.modules_to_save["default"].load_state_dict(
            ours.classifier.state_dict())


def test_factorization_is_peft_s():
    for d in range(1, 2049):
        for f in (-1, 1, 2, 3, 4, 6, 8, 16, 100):
            assert lokr.factorization(d, f) == peft_factorization(d, f), (d, f)


def test_counts_written_out():
    # 4096 = 64·64: C 64×64 full; D 64×64 is low-rank at r = 8 (8 < 64/2): 8·(64 + 64)
    assert peft_edu.layer_params("lokr", 4096, 4096, r=8) == 64 * 64 + 8 * (64 + 64) == 5_120
    assert peft_edu.layer_params("lora", 4096, 4096, r=8) == 65_536
    assert peft_edu.layer_params("lokr", 4096, 4096, r=8, decompose_both=True) == 2 * 8 * (64 + 64)
    assert peft_edu.layer_params("lokr", 4096, 4096, r=32) == 2 * 64 * 64  # 32 is not below 64/2: D full
    # 768 = 24·32: C 24×24; D 32×32 low-rank for r < 16
    assert peft_edu.layer_params("lokr", 768, 768, r=8) == 24 * 24 + 8 * (32 + 32) == 1_088
    assert peft_edu.layer_params("lokr", 768, 768, r=16) == 24 * 24 + 32 * 32
    # 11008 = 86·128 rows, 4096 = 64·64 columns: C 86×64, D 128×64 (low-rank: 8 < 128/2)
    assert peft_edu.layer_params("lokr", 11008, 4096, r=8) == 86 * 64 + 8 * (128 + 64) == 7_040
    # decompose_factor 4 divides 768: C side 4, D side 192
    assert peft_edu.layer_params("lokr", 768, 768, r=8, decompose_factor=4) == 4 * 4 + 8 * (192 + 192)
    assert peft_edu.layer_params("lokr", 127, 127, r=8) == 1 + 8 * (127 + 127)  # a prime: C is 1×1
    # RoBERTa-base, query and value of 12 blocks, 768 × 768 each
    assert peft_edu.count("roberta-base", "lokr", r=8)["trainable_without_head"] == 12 * 2 * 1_088
    assert lokr.max_rank(4096, 4096, lokr.Config(r=8)) == 64 * 8


def test_calculator_counts_every_rank_directly():
    """LoKr's count is not affine in r (D turns full at r = 16 for 768 = 24 · 32): the calculator
    must not extrapolate it from r = 1 and 2."""
    from peft_edu.sizing.estimate import CalcConfig, method_counts

    for r in (4, 16, 64):
        config = CalcConfig(model="roberta-base", methods=("lokr",), r=r, targets=("q", "v"))
        per_layer = 24 * 24 + (r * (32 + 32) if r < 16 else 32 * 32)
        assert method_counts(config, "lokr")["trainable_without_head"] == 12 * 2 * per_layer


@pytest.mark.parametrize("name", CONFIGS)
def test_equal_to_peft_on_shared_weights(name):
    base = tiny_bert()
    ours = randomize(peft_edu.apply(copy.deepcopy(base), "lokr", targets=TARGETS, **CONFIGS[name]))
    theirs = peft_lokr(base, CONFIGS[name])
    assert theirs.get_nb_trainable_parameters()[0] == peft_edu.trainable_parameters(ours)
    share(ours, theirs)
    for target in peft_edu.applied(ours).arch.targets:
        torch.testing.assert_close(ours.get_submodule(target).delta_weight(),
                                   theirs.base_model.model.get_submodule(target).get_delta_weight("default"))
    torch.testing.assert_close(logits(theirs), logits(ours), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits(ours), logits(base), atol=1e-3)  # the factors really act


def test_training_mode_dropouts_equal_peft_on_one_seed():
    """Rank dropout (rows of ΔW, rescaled) and module dropout draw the same random numbers as peft."""
    cfg = dict(r=2, alpha=4.0, rank_dropout=0.5, rank_dropout_scale=True, module_dropout=0.3)
    base = tiny_bert()
    ours = randomize(peft_edu.apply(copy.deepcopy(base), "lokr", targets=TARGETS, **cfg))
    theirs = peft_lokr(base, cfg)
    share(ours, theirs)
    ids, mask = batch()
    outs = []
    for model in (ours, theirs):
        model.train()
        torch.manual_seed(123)
        with torch.no_grad():
            outs.append([model(input_ids=ids, attention_mask=mask).logits for _ in range(4)])
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert not all(torch.allclose(outs[0][0], o) for o in outs[0][1:])  # the draws do change the output


@pytest.mark.parametrize("name", ["low-rank-D", "both-low-rank", "lycoris-init"])
def test_round_trip_with_peft(name, tmp_path):
    base = tiny_bert()
    ours = randomize(peft_edu.apply(copy.deepcopy(base), "lokr", targets=TARGETS, **CONFIGS[name]))
    peft_edu.save_adapter(ours, tmp_path / "ours")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # peft warns on unknown keys and missing tensors
        theirs = PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "ours")).eval()
    assert theirs.peft_config["default"].peft_type.value == "LOKR"
    torch.testing.assert_close(logits(theirs), logits(ours), rtol=1e-5, atol=1e-5)

    peft_trained = randomize(peft_lokr(base, CONFIGS[name]), seed=8)
    quiet(peft_trained.save_pretrained, str(tmp_path / "theirs"))
    mine = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "theirs")  # no metadata: from the config
    info = peft_edu.applied(mine)
    assert info.method == "lokr" and info.config == lokr.Config(**CONFIGS[name])
    assert len(info.arch.targets) == 6  # 2 blocks × 3 layers
    torch.testing.assert_close(logits(mine), logits(peft_trained), rtol=1e-5, atol=1e-5)


def test_delta_is_numpy_kron_and_the_kronecker_identity():
    model = randomize(peft_edu.apply(tiny_bert(), "lokr", targets=TARGETS, r=2, alpha=6.0))
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(2))
    for name in peft_edu.applied(model).arch.targets:
        layer = model.get_submodule(name)
        C, D = layer.C().detach().double().numpy(), layer.D().detach().double().numpy()
        dW = layer.delta_weight().detach().double().numpy()
        assert C.shape[0] * D.shape[0] == layer.d_out and C.shape[1] * D.shape[1] == layer.d_in
        np.testing.assert_allclose(dW, 3.0 * np.kron(C, D), rtol=1e-5, atol=1e-6)  # alpha / r = 3
        X = x[:, : layer.d_in].double().numpy().reshape(5, C.shape[1], D.shape[1])  # x as (v1, v2)
        structured = 3.0 * np.einsum("ij,bjk,lk->bil", C, X, D).reshape(5, -1)  # vec(C X Dᵀ)
        np.testing.assert_allclose(structured, x[:, : layer.d_in].double().numpy() @ dW.T, rtol=1e-6, atol=1e-6)


def test_rank_of_the_kronecker_product_is_the_product_of_ranks():
    model = peft_edu.apply(tiny_bert(), "lokr", targets="query", r=4)
    layer = model.get_submodule(peft_edu.applied(model).arch.targets[0])  # C 4×4, D 8×8 (full)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        layer.lokr_w1.copy_(torch.randn(4, 2, generator=gen) @ torch.randn(2, 4, generator=gen))  # rank 2
        layer.lokr_w2.copy_(torch.randn(8, 3, generator=gen) @ torch.randn(3, 8, generator=gen))  # rank 3
    C, D = layer.lokr_w1.detach().double().numpy(), layer.lokr_w2.detach().double().numpy()
    dW = layer.delta_weight().detach().double().numpy()
    assert (np.linalg.matrix_rank(C, tol=1e-4), np.linalg.matrix_rank(D, tol=1e-4)) == (2, 3)  # float32 factors
    assert np.linalg.matrix_rank(dW, tol=1e-4) == 6
    products = np.sort(np.outer(np.linalg.svd(C, compute_uv=False), np.linalg.svd(D, compute_uv=False)).ravel())
    np.testing.assert_allclose(np.sort(np.linalg.svd(dW, compute_uv=False)), layer.scaling * products, atol=1e-4)


def test_starts_at_the_base_and_merges():
    base = tiny_bert()
    for init, zero in (("peft", "lokr_w1"), ("lycoris", "lokr_w2_b")):
        model = peft_edu.apply(copy.deepcopy(base), "lokr", targets=TARGETS, r=2, init=init)
        first = model.get_submodule(peft_edu.applied(model).arch.targets[0])
        assert torch.count_nonzero(getattr(first, zero)) == 0
        torch.testing.assert_close(logits(model), logits(base))
    randomize(model)
    before = logits(model)
    peft_edu.merge(model)
    torch.testing.assert_close(logits(model), before, rtol=1e-5, atol=1e-5)
    peft_edu.unmerge(model)
    torch.testing.assert_close(logits(model), before, rtol=1e-5, atol=1e-5)


def test_gpt2_trains_and_merges_but_peft_cannot_hold_it(tmp_path):
    model = randomize(peft_edu.apply(tiny_gpt2(), "lokr", r=4))  # c_attn: 32 -> 96 = 8 · 12, 32 = 4 · 8
    layer = model.get_submodule(peft_edu.applied(model).arch.targets[0])
    assert layer.lokr_w1.shape == (8, 4) and layer.lokr_w2 is None  # D 12 × 8 is low-rank: 4 < 12 / 2
    assert layer.lokr_w2_a.shape == (12, 4) and layer.lokr_w2_b.shape == (4, 8)
    ids, _ = batch(pad=False)
    with torch.no_grad():
        before = model(input_ids=ids).logits
        peft_edu.merge(model)
        torch.testing.assert_close(model(input_ids=ids).logits, before, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="Conv1D"):
        peft_edu.save_adapter(model, tmp_path)


def test_config_errors_name_the_range():
    with pytest.raises(ValueError, match="r must be an integer >= 1"):
        lokr.Config(r=0)
    with pytest.raises(ValueError, match="decompose_factor must be -1"):
        lokr.Config(decompose_factor=0)
    with pytest.raises(ValueError, match=r"rank_dropout must be in \[0, 1\)"):
        lokr.Config(rank_dropout=1.0)
    with pytest.raises(ValueError, match="init must be one of peft, lycoris, random"):
        lokr.Config(init="zeros")
