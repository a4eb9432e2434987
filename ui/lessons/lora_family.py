"""The method-specific lesson at the end of every method page: ``render_lesson(key)``.

UI only. Each lesson is a real run or a real measurement from ``peft_edu.lessons`` (cached
with st.cache_resource, shared by all sessions) drawn by ``peft_edu.viz``. This module holds the LoRA
family's lessons, one function per method, named by its registry key; ``ui.lessons`` finds
a method's lesson by that name.
"""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from peft_edu.lessons import lora as lora_lessons
from peft_edu.lessons import lora_family as fam
from peft_edu.viz import lessons as figs
from peft_edu.viz.narrow import stacked
from peft_edu.viz.style import fmt_bytes, fmt_int
from ui.charts import chart, figure
from ui.lessons import pretraining

RANKS = (1, 2, 4, 8)  # rank choices of the LoRA spectrum lesson


# ---------------------------------------------------------------- cached runs
_spectra = st.cache_resource(max_entries=8, show_spinner=False)(lora_lessons.spectra)
_frozen_a = st.cache_resource(max_entries=8, show_spinner=False)(fam.frozen_a)
_activations = st.cache_resource(max_entries=8, show_spinner=False)(fam.activation_comparison)
_vera_run = st.cache_resource(max_entries=1, show_spinner=False)(fam.vera_sharing)
_delta = st.cache_resource(max_entries=16, show_spinner=False)(fam.delta_run)
_ratio = st.cache_resource(max_entries=16, show_spinner=False)(fam.ratio_curve)
_magdir = st.cache_resource(max_entries=4, show_spinner=False)(fam.magnitude_direction)
_magdir_scatter = st.cache_resource(max_entries=4, show_spinner=False)(fam.magdir_scatter)


# ---------------------------------------------------------------- figures of several cached results
def _frozen_a_figure(fa):
    moved = {"A, LoRA-FA (frozen)": fa.a_moved_fa, "B, LoRA-FA": fa.b_moved_fa,
             "A, LoRA": fa.a_moved_lora, "B, LoRA": fa.b_moved_lora}
    return figs.frozen_a_figure(fa.steps, moved, fa.loss_fa, fa.loss_lora)


def _delta_figure(*runs):
    return figs.delta_figure(list(runs))


def _ratio_figure(*ratios):
    return figs.ratio_figure({float(x): _ratio(float(x)) for x in ratios}, fam.LR_PLUS)


def _magdir_figure(*results):
    return figs.magdir_figure(list(results))


def _magdir_scatter_figure(*results):
    return figs.magdir_scatter_figure(list(results))


# ---------------------------------------------------------------- LoRA
def lora() -> None:
    st.subheader("The rank of ΔW")
    r = st.select_slider("LoRA rank r of this experiment", options=RANKS, value=4, key="lesson_lora_rank")
    with st.spinner("Training full fine-tuning and LoRA on the toy layer…"):
        s = _spectra(r)
    chart(figure(figs.spectrum_figure, s.target, s.full, s.lora, s.r), "lesson_lora_spectrum")
    st.markdown(
        f"Both runs learned the same 16×24 layer. LoRA's update ΔW = (α/r)·B·A has numerical rank "
        f"**{s.lora_rank}** (at most r = {r}); full fine-tuning's ΔW has rank **{s.full_rank}**. Final loss: "
        f"full {s.full_loss:.2e}, LoRA {s.lora_loss:.2e}. Because the task's change ΔW* has fast-decaying "
        "singular values, a small r already captures most of it — the LoRA paper's bet (§4.1, §7).")
    pretraining.experiment("lesson_lora")  # a tiny GPT pre-trained six ways (ui/lessons/pretraining.py)


# ---------------------------------------------------------------- LoRA-FA
def lora_fa() -> None:
    st.subheader("A stays where it started, B learns")
    fa = _frozen_a(4)
    fig = figure(_frozen_a_figure, fa)
    chart(fig, "lesson_lora_fa_moves", phone=figure(stacked, fig))
    st.markdown(
        f"After {fa.steps[-1]} steps A has moved **{fa.a_moved_fa[-1]:.1f}** in LoRA-FA (it has no gradient) and "
        f"{fa.a_moved_lora[-1]:.2f} in LoRA. LoRA-FA trains {fmt_int(fa.trainable_fa)} numbers in this layer, "
        f"LoRA {fmt_int(fa.trainable_lora)}. The price shows in the loss: {fa.loss_fa[-1]:.1e} for LoRA-FA vs "
        f"{fa.loss_lora[-1]:.1e} for LoRA. A random A fixes which r directions of the input the update can "
        "read; on this toy task they are not the ones it needs (on large models the paper finds the gap small).")
    st.subheader("Activation memory saved")
    model = st.selectbox("Model", ("Llama-2-7B", "Llama-2-13B", "Llama-2-70B", "roberta-base"),
                         key="lesson_lora_fa_model")
    acts = _activations(model)
    chart(figure(figs.activation_figure, model, acts, 8, 512), "lesson_lora_fa_activations")
    saved = acts["lora"] - acts["lora_fa"]
    st.markdown(
        f"With A frozen, B's gradient needs only A·x (r numbers per token), not the layer's input x: "
        f"LoRA-FA keeps **{fmt_bytes(saved)}** less ({100 * saved / acts['lora']:.0f}%) than LoRA here "
        "(r = 8 on every linear layer, `peft_edu.sizing.activations`).")


# ---------------------------------------------------------------- VeRA
def vera() -> None:
    st.subheader("One random pair for every layer")
    v = _vera_run()
    chart(figure(figs.vera_figure, v.A, v.B, v.d, v.b), "lesson_vera_shared")
    c1, c2, c3 = st.columns(3)
    c1.metric("Layers sharing one A, B", f"{len(v.layers)}")
    c2.metric("VeRA trainable (3 layers)", fmt_int(v.trainable))
    c3.metric(f"LoRA trainable at r = {v.r}", fmt_int(v.lora_trainable))
    st.markdown(
        f"Checked on the model itself: every layer's A and B are the **same object** ({v.same_pair}) and "
        f"views of the **same memory** ({v.same_storage}). They are buffers, not parameters, so the "
        "optimizer never sees them; only each layer's d (length r) and b (length d_out) train. "
        f"Loss {v.loss[0]:.2e} → {v.loss[-1]:.2e} in {len(v.loss) - 1} steps.")
    st.dataframe([{"tensor": n, "shape": "×".join(map(str, s)), "kind": "buffer (frozen, shared)"}
                  for n, s in v.buffers]
                 + [{"tensor": n, "shape": "×".join(map(str, s)), "kind": "parameter (trainable)"}
                    for n, s in v.parameters], hide_index=True, key="lesson_vera_table")


# ---------------------------------------------------------------- Delta-LoRA
def delta_lora() -> None:
    st.subheader("W moves without a gradient")
    lam = st.select_slider("λ (update ratio; the paper uses 2)", options=(0.5, 1.0, 2.0, 4.0), value=2.0,
                           key="lesson_delta_lora_lam")
    runs = [_delta(0.0), _delta(float(lam))]
    fig = figure(_delta_figure, *runs)
    chart(fig, "lesson_delta_lora_moves", phone=figure(stacked, fig))
    run = runs[1]
    st.markdown(
        f"Until step K = {run.start}, W is bit-for-bit W₀; then every step adds λ·(α/r)·(B_{{t+1}}A_{{t+1}} − "
        f"B_tA_t). With λ = {lam:g}, W has moved **{run.w_moved[-1]:.3f}** by step {run.steps[-1]}. "
        f"That sum telescopes to λ·(α/r)·(B_T A_T − B_K A_K), so the whole update has rank "
        f"**{run.total_rank}** — above LoRA's r = {run.r}, and never above 2r.")


# ---------------------------------------------------------------- LoRA+
def lora_plus() -> None:
    st.subheader("A learning-rate ratio for B")
    ratio = st.select_slider("lr(B) / lr(A)", options=(1, 2, 4, 8, 16, 32, 64), value=16,
                             key="lesson_lora_plus_ratio")
    curves = {float(x): _ratio(float(x)) for x in sorted({1, 16, ratio})}
    chart(figure(_ratio_figure, *sorted({1, 16, ratio})), "lesson_lora_plus_curves")
    at = 20
    st.markdown(
        f"Same layer, same A at init, same lr(A) = {fam.LR_PLUS}. At step {at}, ratio 1 has loss "
        f"{curves[1.0][at]:.2e} and ratio {ratio} {curves[float(ratio)][at]:.2e}. B starts at zero and needs "
        "to grow; A only has to stay a useful projection — so B can take larger steps (LoRA+ §4).")


# ---------------------------------------------------------------- rsLoRA
_scaling = st.cache_resource(max_entries=1, show_spinner=False)(fam.rank_scaling)


def rslora() -> None:
    st.subheader("Why the square root: the update's size against the rank")
    with st.spinner("Training LoRA and rsLoRA at four ranks…"):
        runs = _scaling()
    chart(figure(figs.scaling_figure, runs), "lesson_rslora_scaling")
    by = {(run.method, run.r): run for run in runs}
    low, high = fam.SCALING_RANKS[0], fam.SCALING_RANKS[-1]
    st.markdown(
        f"Eight real runs on the toy layer, all with α = 8 and the same learning rate. With LoRA's α/r the "
        f"update after {fam.EARLY_STEP} steps shrinks as the rank grows: ‖ΔW‖ = {by['lora', low].update_norm:.2f} at r = {low}, "
        f"{by['lora', high].update_norm:.2f} at r = {high}, and the loss at r = {high} ends at "
        f"{by['lora', high].loss[-1]:.1e}. With rsLoRA's α/√r the update does not shrink "
        f"({by['rslora', low].update_norm:.2f} → {by['rslora', high].update_norm:.2f}) and the loss at r = {high} "
        f"reaches {by['rslora', high].loss[-1]:.1e}: the extra rank is used (rsLoRA §3–4).")


# ---------------------------------------------------------------- DoRA
def dora() -> None:
    st.subheader("Magnitude and direction")
    results = [_magdir(m) for m in ("full", "lora", "dora")]
    fig = figure(_magdir_figure, *results)
    chart(fig, "lesson_dora_magdir", phone=figure(stacked, fig))
    last = {r.method: r for r in results}
    st.markdown(
        "Each row of W is a length (magnitude) times a unit vector (direction). DoRA trains the length "
        "directly as m and the direction with LoRA. End of run, mean relative magnitude change: "
        + ", ".join(f"{METHODS[k].name} {last[k].d_mag[-1]:.3f}" for k in last)
        + "; mean direction change 1 − cos: "
        + ", ".join(f"{METHODS[k].name} {last[k].d_dir[-1]:.3f}" for k in last) + ".")
    st.subheader("The paper's picture: ΔM against ΔD, layer by layer")
    with st.spinner("Training full fine-tuning, LoRA and DoRA on every layer of the tiny BERT…"):
        runs = [_magdir_scatter(m) for m in ("full", "lora", "dora")]
    chart(figure(_magdir_scatter_figure, *runs), "lesson_dora_scatter")
    slope = {run.method: run.slope for run in runs}
    st.markdown(
        f"The DoRA paper (§2, Fig. 2) takes the weights of a fine-tuned model at several checkpoints and puts a "
        f"point per layer and checkpoint at (ΔD, ΔM). On LLaMA and VL-BART it finds a **negative** slope for full "
        f"fine-tuning and DoRA — a layer changes either its rows' lengths or their directions a lot, not both — "
        f"and a **positive** one for LoRA, whose low-rank update moves both together. Here the same analysis on "
        f"real runs: the {fam.MAGDIR_STEPS}-step adaptation of the 2-block BERT of width 16, every encoder linear "
        f"layer adapted (rank 4), checkpoints every {fam.MAGDIR_EVERY} steps. Slopes: full fine-tuning "
        f"**{slope['full']:.2f}**, LoRA **{slope['lora']:.2f}**, DoRA **{slope['dora']:.2f}** (each at its own "
        "learning rate, measured on this task for the Compare race). On this tiny model no slope turns negative, "
        f"but the paper's contrast shows: LoRA's points climb {slope['lora'] / max(slope['dora'], 1e-12):.0f}× more "
        "steeply than DoRA's — with the length learned apart (m), DoRA's layers change direction without "
        "dragging the magnitude along.")
