"""The multi-GPU closed forms and calculator (peft_edu.distributed.formulas / plan) against
REFERENCE.md's "Distributed training" table, written out as literals."""
from __future__ import annotations

import dataclasses

import pytest

from peft_edu.distributed import formulas as f
from peft_edu.distributed.plan import DEFAULT, DistConfig, estimate, estimate_row, parse_query, to_query
from peft_edu.models import preset_names
from peft_edu.sizing import config as calc

# REFERENCE.md: Llama-2-7B, N = 8, mixed precision (k = 12), GiB per GPU for stages 0, 1, 2, 3
FULL_GIB = (100.4, 34.5, 23.5, 12.6)
LORA_GIB = (12.6, 12.6, 12.6, 1.58)


def _llama(stage: int, method: str, **calc_values) -> float:
    cfg = dataclasses.replace(calc.DEFAULT, model="Llama-2-7B", methods=(method,), r=8, targets=("q", "v"),
                              **calc_values)
    row = estimate_row(DistConfig(calc=cfg, n_gpus=8, stage=stage), method)
    return row.states.total / f.GIB


@pytest.mark.parametrize("stage", range(4))
def test_reference_table_full_and_lora(stage):
    assert round(_llama(stage, "full"), 1) == FULL_GIB[stage]
    digits = 2 if stage == 3 else 1  # the table writes 1.58
    assert round(_llama(stage, "lora"), digits) == LORA_GIB[stage]


def test_counts_behind_the_table_are_the_models_own():
    row = estimate_row(dataclasses.replace(DEFAULT, stage=0), "lora")
    assert row.trainable == 4_194_304  # 32 layers × 2 × 8 × (4096 + 4096)
    assert estimate_row(DEFAULT, "full").total == 6_738_415_616  # Llama-2-7B with its untied LM head


def test_closed_forms_literal():
    psi, n = 1e9, 8
    assert f.full_per_gpu(psi, n, 0) == 16 * psi
    assert f.full_per_gpu(psi, n, 1) == 4 * psi + 12 * psi / n
    assert f.full_per_gpu(psi, n, 2) == pytest.approx(2 * psi + 14 * psi / n)
    assert f.full_per_gpu(psi, n, 3) == 16 * psi / n
    assert f.full_per_gpu(psi, n, 0, f.PURE_BF16) == 8 * psi
    phi = 1e6  # PEFT: 2Ψ frozen + the adapter's own 2Φ copy, then (2 + k)Φ as sharded
    assert f.peft_per_gpu(psi, phi, n, 1) == pytest.approx(2 * psi + 2 * phi + 2 * phi + 12 * phi / n)
    assert f.peft_per_gpu(psi, phi, n, 3) == pytest.approx((2 * psi + 2 * phi) / n + 14 * phi / n)
    with pytest.raises(ValueError, match="stage"):
        f.full_per_gpu(psi, n, 4)


def test_zero_1_and_2_buy_nothing_under_lora():
    saved = _llama(0, "lora") - _llama(2, "lora")
    assert saved < 0.01 * _llama(0, "lora")
    assert _llama(3, "lora") < _llama(0, "lora") / 7


def test_ring_allreduce_and_chunks():
    assert f.ring_allreduce_bytes(1000, 2, 4) == 4000  # N = 2: each rank sends K values once
    assert f.ring_allreduce_bytes(800, 8, 2) == pytest.approx(2 * 7 / 8 * 800 * 2)
    assert f.ring_allreduce_bytes(10, 1, 4) == 0
    assert f.ring_chunks(10, 3) == [4, 3, 3] and sum(f.ring_chunks(7, 4)) == 7


def test_bubble_and_parallel_traffic():
    assert f.bubble_fraction(4, 8) == 3 / 8 and f.bubble_fraction(4, 8, v=2) == 3 / 16
    assert f.bubble_fraction(1, 8) == 0
    assert f.tensor_parallel_bytes(32, 2048, 4096, 1) == 0
    assert f.tensor_parallel_bytes(2, 10, 4, 2, 2) == 2 * 4 * (2 * 1 / 2 * 40 * 2)
    assert f.step_comm_bytes(1e9, 1e9, 8, 3) == pytest.approx(3 * 7 / 8 * 1e9 * 2)  # ZeRO-3: 1.5 × DDP


def test_gqa_and_ffn_width_counted_from_the_model():
    """Llama-3-8B has 8 key/value heads (v_proj is 4096 × 1024) and a 14336-wide FFN."""
    cfg = DistConfig(calc=dataclasses.replace(calc.DEFAULT, model="Llama-3-8B", methods=("lora", "full"),
                                              r=8, targets=("q", "v")))
    lora, full = estimate(cfg)[0]
    assert lora.trainable == 32 * (8 * (4096 + 4096) + 8 * (4096 + 1024))
    assert full.total == 8_030_261_248


def test_tensor_and_pipeline_split_the_states():
    base = estimate_row(dataclasses.replace(DEFAULT, n_gpus=8), "full")
    split = estimate_row(dataclasses.replace(DEFAULT, n_gpus=8, tp=2, pp=2), "full")
    assert split.states.total == pytest.approx(base.states.total / 4)
    assert split.bubble == pytest.approx(1 / 8)  # (p − 1)/m with p = 2, m = 8
    assert split.fits[141] and not base.fits[80]


def test_url_round_trip_and_bad_values():
    cfg = DistConfig(calc=dataclasses.replace(DEFAULT.calc, model="Mistral-7B"), n_gpus=16, stage=3, tp=2, pp=2,
                     micro_batches=4, convention="bf16")
    back, messages = parse_query(to_query(cfg), preset_names())
    assert back == cfg and messages == []
    fixed, messages = parse_query({"N": "6", "tp": "4", "zero": "9", "prec": "fp8"}, preset_names())
    assert fixed.tp == 1 and fixed.stage == 0 and fixed.convention == "mixed" and len(messages) == 3


def test_quiz_numbers_come_from_the_formulas():
    from peft_edu.quiz.bank import load_bank

    answers = {q.id: q.answer for q in load_bank().questions if q.topic == "multi_gpu" and q.kind == "numeric"}
    assert answers["gpu-ring-bytes-lora"] == pytest.approx(f.ring_allreduce_bytes(4_194_304, 8, 2) / 1e6)
    assert answers["gpu-zero2-full-7b"] == pytest.approx(f.full_per_gpu(7e9, 8, 2) / 1e9)
    assert answers["gpu-pipeline-bubble"] == pytest.approx(100 * f.bubble_fraction(4, 12))
    assert answers["gpu-pure-bf16-bytes"] == f.full_per_gpu(1, 1, 0, f.PURE_BF16)


def test_ring_chunks_are_torchs_cut():
    import torch

    for k, n in ((10, 3), (7, 4), (1_000_003, 2)):
        assert f.ring_chunks(k, n) == [c.numel() for c in torch.tensor_split(torch.zeros(k), n)]


def test_figures_build_and_validate():
    import plotly.graph_objects as go

    from peft_edu.viz import distributed as viz

    rows, _ = estimate(DEFAULT)
    held = {"params": 4e6, "grads": 1e6, "optimizer": 2e6}
    for fig in (viz.bytes_chart({"LoRA": {"sent": 10, "formula": 10}}),
                viz.time_split_chart({"LoRA": {"compute_s": 0.1, "comm_s": 0.01}}),
                viz.rank_memory_chart([held, held], held, "What each rank holds"),
                viz.ring_figure([[5, 5], [3, 2]], 2), viz.ring_figure([[4, 3, 3]], 3),
                viz.per_gpu_chart(rows), viz.stages_chart({"LoRA": [1.0, 1.0, 1.0, 0.2]})):
        go.Figure(fig.to_dict())  # plotly validates every property
    ring = viz.ring_figure([[4, 3, 3]], 3)
    assert len(ring.frames) == 4  # 2(N − 1) steps
    assert "chunk 0: 4 values" in " ".join(a.text for a in ring.frames[0].layout.annotations)


def test_pure_bf16_against_peft_measurements_on_llama_32_3b():
    """peft's method comparison, Llama-3.2-3B, batch 4, sequence 768, pure bf16 (REFERENCE: issue 13):
    the single-GPU estimate within 15 % of both published peaks (20.8 and 36.2 GiB)."""
    from peft_edu.distributed.measured import comparison

    (lora, lora_gib), (full, full_gib) = comparison()
    assert (lora.gib, full.gib) == (20.8, 36.2)
    assert abs(full_gib / full.gib - 1) < 0.15
    assert abs(lora_gib / lora.gib - 1) < 0.15


def test_fp32_adapter_keeps_an_fp32_input_copy_per_adapted_layer():
    """peft's fp32 adapter on a bf16 base: q and v each keep a 4-byte copy of the hidden state
    (d = 3072) instead of the one shared 2-byte input, 28 blocks, T = 4·768 tokens: 6·T·d·28 bytes
    more than the pure-bf16 model; the adapter's own states at 4 + 4 + 8 bytes per parameter."""
    import dataclasses

    from peft_edu.distributed.measured import PEFT_LLAMA_32_3B, estimate

    lora = PEFT_LLAMA_32_3B[0]
    fp32, bf16 = estimate(lora), estimate(dataclasses.replace(lora, adapter_fp32=False))
    T, d, L = 4 * 768, 3072, 28
    assert fp32.activations - bf16.activations == (4 + 4 - 2) * T * d * L
    phi = 28 * 32 * ((3072 + 3072) + (3072 + 1024))  # LoRA r = 32 on q (3072→3072) and v (3072→1024)
    assert fp32.states.optimizer == 8 * phi and bf16.states.optimizer == 4 * phi
    assert fp32.states.gradients == 4 * phi
