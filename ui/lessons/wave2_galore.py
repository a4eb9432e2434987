"""GaLore's lesson: the projector refreshed every T steps, and the optimizer memory it saves.

UI only; the function is named by the registry key (found by ``ui.lessons``). Data from
``peft_edu.lessons.wave2_galore`` (cached with st.cache_resource), figures from
``peft_edu.viz.wave2_galore``.
"""
from __future__ import annotations

import streamlit as st

from ui.charts import chart, figure

from peft_edu.lessons import wave2_galore as data
from peft_edu.viz import wave2_galore as figs
from ui.lessons import pretraining
from peft_edu.viz.style import fmt_int

_run = st.cache_resource(max_entries=1, show_spinner=False)(data.projector_run)


def galore() -> None:
    st.subheader("GaLore's projector: a new subspace every T steps")
    with st.spinner("Training the tiny BERT with GaLore…"):
        run = _run()
    chart(figure(figs.projector_figure, run), "lesson_galore_projector")
    jumps = [(run.captured[s - 2], run.captured[s - 1]) for s in run.refreshes[1:]]
    jump_text = ", ".join(f"{a:.2f} → {b:.2f}" for a, b in jumps)
    st.markdown(
        f"A real run: every linear weight of a 2-block BERT of width 16 trains in full on a new task with "
        f"GaLore (rank r = {run.r}, T = {run.T}, Adam on the projected gradient, lr {run.lr}), {run.steps} "
        f"steps; the task loss fell from {run.loss[0]:.3f} to {run.loss[-1]:.3f}. Shown: {run.layer} "
        f"({run.shape[0]}×{run.shape[1]}, more rows than columns, so its gradient is projected on the "
        f"{run.side}). Between refreshes P is fixed (overlap 1) while the gradient turns away from it: the "
        f"share of the gradient that Adam sees decays. At each refresh P becomes the top-{run.r} singular "
        f"vectors of the current gradient and the share jumps back up ({jump_text}). Each stretch of T steps "
        "moves W inside one rank-r subspace; the stretches together move it in many directions.")
    st.subheader("What it saves: Adam's states in the subspace")
    chart(figure(figs.memory_figure, run), "lesson_galore_memory")
    st.markdown(
        f"Counted from the optimizer's own tensors after the run: Adam's two moments hold "
        f"**{fmt_int(run.moments)}** values for the GaLore weights, plus **{fmt_int(run.projectors)}** for "
        f"the projectors, where plain Adam would hold **{fmt_int(run.adam_moments)}** (2·m·n). On a "
        f"Llama-7B MLP weight of 4,096 × 11,008 at r = {run.big_r}: {fmt_int(run.big_galore)} values "
        f"(2·r·n + m·r) instead of {fmt_int(run.big_adam)}, {run.big_adam / run.big_galore:.0f} times fewer. "
        "Weights and gradients stay full size: GaLore cuts the optimizer's share of the memory only.")
    pretraining.galore_summary()  # its numbers in the pre-training experiment (ui/lessons/pretraining.py)
