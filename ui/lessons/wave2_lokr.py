"""LoKr's lesson: its count against LoRA's at the same ΔW shape, and the rank of C ⊗ D.

UI only; the function is named by the registry key (found by ``ui.lessons``). Data from
``peft_edu.lessons.wave2_lokr`` (cached with st.cache_resource), figures from
``peft_edu.viz.wave2_lokr``.
"""
from __future__ import annotations

import streamlit as st

from ui.charts import chart, figure

from peft_edu.lessons import wave2_lokr as data
from peft_edu.viz import wave2_lokr as figs
from peft_edu.viz.style import fmt_int

_curves = st.cache_resource(max_entries=8, show_spinner=False)(data.count_curves)
_table = st.cache_resource(max_entries=1, show_spinner=False)(data.layer_table)
_rank_run = st.cache_resource(max_entries=1, show_spinner=False)(data.rank_run)

RANKS = (1, 2, 4, 8, 16, 32, 64)


def lokr() -> None:
    st.subheader("How many numbers for the same ΔW? LoKr against LoRA")
    r = st.select_slider("Rank r (LoKr's low-rank factor, LoRA's rank)", RANKS, value=8, key="lesson_lokr_rank")
    curves = _curves(r)
    chart(figure(figs.count_figure, curves), "lesson_lokr_counts")
    i = curves.widths.index(4096)
    best = min(zip(curves.factor_counts[8], curves.factors))
    st.markdown(
        f"Counted from real LoKr layers (built on PyTorch's \"meta\" device: shapes, no memory) and checked "
        f"against the closed form. At 4,096 × 4,096 and r = {r}, LoRA trains **{fmt_int(curves.lora[i])}** "
        f"numbers and LoKr **{fmt_int(curves.lokr[i])}** ({curves.ratio(4096):.0f}× fewer), with "
        f"decompose_both {fmt_int(curves.lokr_both[i])}. peft splits 4,096 = 64 · 64, so C is 64 × 64 and D "
        f"64 × 64; D is D_a·D_b while r < 64 / 2 = 32 and a full 64 × 64 matrix from r = 32 on. "
        f"The update can still reach rank **{fmt_int(curves.lokr_rank[i])}** (rank C · rank D), LoRA's at most "
        f"{r}. On the right (ranks 4, 8 and 16), the factor f = decompose_factor moves size from D to C: at "
        f"r = 8 the count is "
        f"smallest at f = {best[1]} ({fmt_int(best[0])}); peft's default (f = −1, near √d) takes f = 64.")
    st.dataframe(_table(), hide_index=True, width="stretch")
    st.caption("Layers of real models (from their configs) at four ranks: peft's factor sizes, both counts and "
               "the highest rank each update can have. LoRA's rank is r; LoKr's is rank C · rank D.")

    st.subheader("Ranks multiply: rank(C ⊗ D) = rank C · rank D")
    with st.spinner("Training LoKr and LoRA on the toy layer…"):
        run = _rank_run()
    chart(figure(figs.rank_figure, run), "lesson_lokr_rank_figure")
    d_out, d_in = run.dW.shape
    st.markdown(
        f"Two real runs on the toy layer ({d_out} × {d_in}, Adam, {run.steps} steps), both at r = {run.r}, "
        f"α = r. LoKr's C is {run.C.shape[0]} × {run.C.shape[1]} and D = D_a·D_b is {run.D.shape[0]} × "
        f"{run.D.shape[1]} of rank {run.rank_D}: **{run.lokr_params}** numbers, against LoRA's **{run.lora_params}**. "
        f"numpy finds rank C = {run.rank_C}, rank D = {run.rank_D} and rank ΔW = **{run.rank_dW}** = "
        f"{run.rank_C} · {run.rank_D}, while LoRA's trained B·A has rank {run.rank_lora}. The singular values of "
        f"ΔW are exactly the products σᵢ(C)·σⱼ(D) (crosses on the dots), and ΔW equals numpy.kron(C, D) to "
        f"{run.kron_error:.0e}. In the heat map each block is one entry of C times the same D. Rank is not "
        f"everything: that structure is a constraint too. The change this toy task asks for lies in random "
        f"directions, with no Kronecker structure; after {run.steps} steps "
        + (f"LoRA's loss is lower ({run.lora_loss[-1]:.2e} against LoKr's {run.lokr_loss[-1]:.2e}): its free "
           f"rank-{run.r} B·A fits that change better than LoKr's tied rank-{run.rank_dW} C ⊗ D."
           if run.lora_loss[-1] < run.lokr_loss[-1] else
           f"LoKr's loss is lower ({run.lokr_loss[-1]:.2e} against LoRA's {run.lora_loss[-1]:.2e}), "
           f"with fewer numbers."))
