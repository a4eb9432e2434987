"""OFT (arXiv 2306.07280) against its definition and Hugging Face peft's OFT.

Independent references: peft 0.21's OFT layers on the same base with the exact Cayley
transform (``use_cayley_neumann=False``) — equal logits, its merged weight W0 Rᵀ, its COFT
projection and its trainable count; peft loading our saved adapter and ours loading peft's;
closed-form counts written out here; numpy for orthogonality and the neurons' cosines.
"""
import copy
import json
import warnings

import numpy as np
import pytest
import torch
from peft import OFTConfig, PeftModel, get_peft_model

import peft_edu
from peft_edu.methods import oft
from peft_edu.methods.layers import base_weight
from tests.tiny import batch, tiny_bert, tiny_gpt2, tiny_llama

FAMILIES = {"bert": tiny_bert, "llama": tiny_llama}
TARGETS = {"bert": ["query", "value"], "llama": ["q_proj", "v_proj"]}
TASK = {"bert": "SEQ_CLS", "llama": "CAUSAL_LM"}
# (our Config, peft's OFTConfig keys): peft's layout for each of our knobs
CONFIGS = {
    "b8": ({"block_size": 8}, {"oft_block_size": 8}),
    "shared": ({"block_size": 16, "block_share": True}, {"oft_block_size": 16, "block_share": True}),
    "n_blocks": ({"block_size": 0, "n_blocks": 2}, {"oft_block_size": 0, "r": 2}),
    "adjusted": ({"block_size": 5}, {"oft_block_size": 5}),  # 5 does not divide 32: both take 4
}


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's notices (adjusted block size, modules_to_save)
        return fn(*args, **kwargs)


def logits(model, family):
    ids, mask = batch(vocab=model.config.vocab_size, pad=True)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def peft_oft(base, family, **keys):
    config = OFTConfig(target_modules=TARGETS[family], task_type=TASK[family], use_cayley_neumann=False,
                       **{"oft_block_size": 32, **keys})
    return quiet(get_peft_model, copy.deepcopy(base), config).eval()


def layers(model):
    return {name: model.get_submodule(name) for name in peft_edu.applied(model).arch.targets}


def randomize(model, scale=0.3, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in layers(model).values():
            layer.S_upper.copy_(scale * torch.randn(layer.S_upper.shape, generator=g))
    return model


def copy_into_peft(ours, theirs, family):
    """Our S as peft's oft_R.weight (= −S: peft's exact branch is (I − Q)(I + Q)⁻¹), and the head."""
    with torch.no_grad():
        for name, layer in layers(ours).items():
            theirs.base_model.model.get_submodule(name).oft_R["default"].weight.copy_(-layer.S_upper)
        if family == "bert":
            theirs.base_model.model.classifier.modules_to_save["default"].load_state_dict(
                ours.classifier.state_dict())


# ---------------------------------------------------------------- counts
def test_counts_against_closed_forms():
    # n blocks of b x b, b(b-1)/2 free entries each: d_in (b - 1) / 2
    assert peft_edu.layer_params("oft", 4096, 4096, block_size=32) == 128 * (32 * 31 // 2) == 63_488
    assert peft_edu.layer_params("oft", 11008, 4096, block_size=32) == 63_488  # d_out does not enter
    assert peft_edu.layer_params("oft", 4096, 11008, block_size=32) == 344 * 496 == 170_624
    assert peft_edu.layer_params("oft", 4096, 4096, block_size=32, block_share=True) == 496
    assert peft_edu.layer_params("oft", 4096, 4096, block_size=0, n_blocks=4) == 4 * (1024 * 1023 // 2)
    # 32 does not divide 1000: peft takes the nearest divisor, 25 (40 is farther), 40 blocks
    assert peft_edu.layer_params("oft", 1000, 1000) == 40 * (25 * 24 // 2) == 12_000
    assert oft.fit_divisor(1000, 32) == 25 and oft.fit_divisor(24, 32) == 24 and oft.fit_divisor(12, 5) == 4
    # roberta-base, q and v of 12 blocks, d = 768 = 24 blocks of 32
    assert peft_edu.count("roberta-base", "oft")["trainable_without_head"] == 12 * 2 * 24 * 496 == 285_696


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("family", FAMILIES)
def test_counts_equal_peft(family, name):
    ours_cfg, peft_keys = CONFIGS[name]
    base = FAMILIES[family]()
    ours = peft_edu.apply(copy.deepcopy(base), "oft", **ours_cfg)
    theirs = peft_oft(base, family, **peft_keys)
    assert theirs.get_nb_trainable_parameters()[0] == peft_edu.trainable_parameters(ours)
    for name_, layer in layers(ours).items():
        assert layer.S_upper.shape == theirs.base_model.model.get_submodule(name_).oft_R["default"].weight.shape


# ---------------------------------------------------------------- R
def test_r_stays_orthogonal_through_training():
    """20 large Adam steps on tiny BERT: R moves far from I and stays orthogonal to 1e-5."""
    model = peft_edu.apply(tiny_bert(), "oft", block_size=8)
    ids, mask = batch()
    labels = torch.tensor([0, 2])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    model.train()
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for layer in layers(model).values():
        S = torch.block_diag(*layer.skew_blocks()).detach().double().numpy()
        np.testing.assert_array_equal(S, -S.T)  # skew-symmetric exactly
        R = layer.rotation().detach().double().numpy()
        assert np.abs(R.T @ R - np.eye(32)).max() < 1e-5 and np.abs(R @ R.T - np.eye(32)).max() < 1e-5
        assert np.linalg.norm(R - np.eye(32)) > 0.1  # it really turned
        assert oft.orthogonality_error(layer) < 1e-5
        # off the diagonal blocks R is zero
        assert np.abs(R[:8, 8:]).max() == 0


def test_r_is_the_cayley_transform_of_s():
    layer = layers(randomize(peft_edu.apply(tiny_bert(), "oft", block_size=8)))["bert.encoder.layer.0.attention.self.query"]
    for S, R in zip(layer.skew_blocks().detach().double().numpy(), layer.rotation_blocks().detach().double().numpy()):
        I = np.eye(8)
        np.testing.assert_allclose(R, (I + S) @ np.linalg.inv(I - S), atol=1e-5)  # the paper's form


# ---------------------------------------------------------------- angles between neurons
@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_neurons_keep_their_lengths_and_angles(family):
    """R acts on the input side, as peft: W' = W0 Rᵀ, each neuron (row) w_j -> R w_j. Read W'
    off the forward pass itself (the layer applied to the identity), not from weight()."""
    base = tiny_bert() if family == "bert" else tiny_gpt2()
    model = randomize(peft_edu.apply(copy.deepcopy(base), "oft", block_size=8), scale=0.5)
    lora = peft_edu.apply(copy.deepcopy(base), "lora", r=4)
    with torch.no_grad():
        for layer in layers(lora).values():
            layer.B.normal_(0, 0.3)
    for name, layer in layers(model).items():
        W0 = base_weight(base.get_submodule(name)).detach().double().numpy()
        with torch.no_grad():
            eye = torch.eye(layer.d_in)
            W = (layer(eye) - layer.base(torch.zeros(1, layer.d_in))).T.double().numpy()  # (d_out, d_in)
            W_lora = (layers(lora)[name](eye) - layer.base(torch.zeros(1, layer.d_in))).T.double().numpy()
        np.testing.assert_allclose(W, layer.weight().detach().double().numpy(), atol=1e-5)
        assert np.abs(W - W0).max() > 0.05  # the weight really changed
        cos = lambda M: (M / np.linalg.norm(M, axis=1, keepdims=True)) @ (M / np.linalg.norm(M, axis=1, keepdims=True)).T
        np.testing.assert_allclose(cos(W), cos(W0), atol=1e-5)  # every pair of neurons: same angle
        np.testing.assert_allclose(np.linalg.norm(W, axis=1), np.linalg.norm(W0, axis=1), rtol=1e-5)
        np.testing.assert_allclose(W @ W.T, W0 @ W0.T, atol=1e-4)  # the Gram matrix of the neurons
        assert np.abs(cos(W_lora) - cos(W0)).max() > 1e-2  # LoRA's additive update changes them


def test_lesson_run_shows_orthogonality_and_kept_angles():
    from peft_edu.lessons.wave2_oft import orthogonality_run

    run = orthogonality_run(steps=20)
    assert max(run.orth_error) < 1e-5 and run.rotation_size[-1] > 0.1
    assert max(run.oft_cos_change) < 1e-5 and max(run.oft_norm_change) < 1e-5
    assert run.lora_cos_change[-1] > 1e-2
    assert run.oft_params == 3 * 28 and run.lora_params == 4 * (24 + 16)


# ---------------------------------------------------------------- peft
@pytest.mark.parametrize("name", ["b8", "shared", "n_blocks"])
@pytest.mark.parametrize("family", FAMILIES)
def test_logits_equal_peft_on_shared_weights(family, name):
    ours_cfg, peft_keys = CONFIGS[name]
    base = FAMILIES[family]()
    ours = randomize(peft_edu.apply(copy.deepcopy(base), "oft", **ours_cfg))
    theirs = peft_oft(base, family, **peft_keys)
    copy_into_peft(ours, theirs, family)
    torch.testing.assert_close(logits(theirs, family), logits(ours, family), rtol=1e-5, atol=1e-5)
    before = logits(ours, family)
    theirs_merged = quiet(theirs.merge_and_unload)  # peft's own W0 Rᵀ
    for name_, layer in layers(ours).items():
        torch.testing.assert_close(layer.weight(), base_weight(theirs_merged.get_submodule(name_)),
                                   rtol=1e-5, atol=1e-6)
    peft_edu.merge(ours)
    torch.testing.assert_close(logits(ours, family), before, rtol=1e-5, atol=1e-5)
    peft_edu.unmerge(ours)  # exact: (Rᵀ)⁻¹ = R
    for name_, layer in layers(ours).items():
        torch.testing.assert_close(base_weight(layer.base), base_weight(base.get_submodule(name_)), rtol=1e-5, atol=1e-6)


def test_coft_projection_equals_peft():
    """COFT: after a step our S is pulled back onto ‖S_i‖_F ≤ eps / sqrt(n); peft projects in
    its forward pass. Same unprojected S in both: same logits."""
    base = tiny_bert()
    ours = randomize(peft_edu.apply(copy.deepcopy(base), "oft", block_size=8, coft=True, eps=0.4))
    theirs = peft_oft(base, "bert", oft_block_size=8, coft=True, eps=0.4)
    copy_into_peft(ours, theirs, "bert")  # unprojected: peft projects it when it runs
    oft.after_step(ours)
    for layer in layers(ours).values():
        norms = torch.linalg.matrix_norm(layer.skew_blocks().detach())  # ‖S_i‖_F per block
        assert torch.all(norms <= 0.4 / 2 + 1e-6) and norms.max() > 0.19  # 4 blocks: eps / sqrt(4)
    torch.testing.assert_close(logits(theirs, "bert"), logits(ours, "bert"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_with_peft(family, tmp_path):
    base = FAMILIES[family]()
    ours = randomize(peft_edu.apply(copy.deepcopy(base), "oft", block_size=8))
    peft_edu.save_adapter(ours, tmp_path / "ours")
    config = json.loads((tmp_path / "ours" / "adapter_config.json").read_text())
    assert config["peft_type"] == "OFT" and config["use_cayley_neumann"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no unknown keys, no missing tensors
        theirs = PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "ours")).eval()
    torch.testing.assert_close(logits(theirs, family), logits(ours, family), rtol=1e-5, atol=1e-5)
    again = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "ours")
    torch.testing.assert_close(logits(again, family), logits(ours, family), rtol=1e-5, atol=1e-5)

    peft_trained = peft_oft(base, family, oft_block_size=16, block_share=True)
    with torch.no_grad():
        for p in peft_trained.parameters():
            if p.requires_grad:
                p.add_(0.2 * torch.randn_like(p))
    quiet(peft_trained.save_pretrained, str(tmp_path / "theirs"))
    mine = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "theirs")  # no metadata: from the config
    info = peft_edu.applied(mine)
    assert info.method == "oft" and info.config.block_size == 16 and info.config.block_share
    torch.testing.assert_close(logits(mine, family), logits(peft_trained, family), rtol=1e-5, atol=1e-5)


def test_peft_default_neumann_files_are_refused_clearly(tmp_path):
    base = tiny_bert()
    config = OFTConfig(target_modules=TARGETS["bert"], task_type="SEQ_CLS", oft_block_size=8)  # peft's default
    assert config.use_cayley_neumann  # peft 0.21 defaults to the approximation
    quiet(quiet(get_peft_model, copy.deepcopy(base), config).save_pretrained, str(tmp_path))
    with pytest.raises(ValueError, match="Cayley-Neumann approximation"):
        peft_edu.load_adapter(copy.deepcopy(base), tmp_path)


# ---------------------------------------------------------------- the module
def test_starts_as_the_base_and_validates():
    base = tiny_bert()
    model = peft_edu.apply(copy.deepcopy(base), "oft")
    torch.testing.assert_close(logits(model, "bert"), logits(base, "bert"))
    with pytest.raises(ValueError, match="exactly one of block_size and n_blocks"):
        oft.Config(block_size=8, n_blocks=4)
    with pytest.raises(ValueError, match="exactly one of block_size and n_blocks"):
        oft.Config(block_size=0)
    with pytest.raises(ValueError, match="block_size must be an integer >= 0, got -1"):
        oft.Config(block_size=-1)
    with pytest.raises(ValueError, match="block_size must be >= 2"):
        oft.Config(block_size=1)
    with pytest.raises(ValueError, match="eps must be > 0"):
        oft.Config(eps=0.0)


def test_gpt2_trains_but_is_not_saved_in_peft_format(tmp_path):
    """peft 0.21's OFT has no layer for GPT-2's Conv1D (it raises on get_peft_model): ours
    rotates the input whatever stores W0, but refuses to write a file peft cannot read."""
    base = tiny_gpt2()
    with pytest.raises((TypeError, ValueError)):
        quiet(get_peft_model, copy.deepcopy(base), OFTConfig(target_modules=["c_attn"], oft_block_size=8,
                                                             use_cayley_neumann=False))
    model = randomize(peft_edu.apply(copy.deepcopy(base), "oft", block_size=8))
    assert not torch.allclose(logits(model, "gpt2"), logits(base, "gpt2"))
    with pytest.raises(ValueError, match="cannot be saved in peft's format"):
        peft_edu.save_adapter(model, tmp_path)
