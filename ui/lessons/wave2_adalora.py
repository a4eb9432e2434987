"""AdaLoRA's lesson: the rank budget moving between layers during a real run.

UI only; the function is named by the registry key (found by ``ui.lessons``). Data from
``peft_edu.lessons.wave2_adalora`` (cached with st.cache_resource), figure from
``peft_edu.viz.wave2_adalora``.
"""
from __future__ import annotations

import streamlit as st

from ui.charts import chart, figure

from peft_edu.lessons import wave2_adalora as data
from peft_edu.viz import wave2_adalora as figs

_run = st.cache_resource(max_entries=1, show_spinner=False)(data.rank_run)


def adalora() -> None:
    st.subheader("Where the rank goes: AdaLoRA's budget moving between layers")
    with st.spinner("Training AdaLoRA on the tiny BERT…"):
        run = _run()
    chart(figure(figs.rank_figure, run), "lesson_adalora_ranks")
    final = sorted(run.final.items(), key=lambda kv: -kv[1])
    top = ", ".join(f"{name} {k}" for name, k in final[:3])
    bottom = ", ".join(f"{name} {k}" for name, k in final[-3:])
    n = len(run.layers)
    st.markdown(
        f"A real run: every linear layer of a 2-block BERT of width 16 ({n} layers) adapts to a new task with "
        f"AdaLoRA, Adam, lr {run.lr}, {run.steps} steps. Each layer starts with r₀ = {run.r0} triplets "
        f"(a column of P, its λ, a row of Q): {n * run.r0} in all. After {run.tinit} warm-up steps the budget "
        f"falls on a cubic curve to {n} × r = {n * run.r} (r = {run.r}, the target average), and at every step "
        f"the λ of the lowest-scoring triplets — scored by the smoothed |w·∂L/∂w| of their entries — are set "
        f"to zero. The budget is shared: the allocator compares triplets of all layers together, so the ranks "
        f"end uneven. Most rank: {top}; least: {bottom}. In the last {run.tfinal} steps the pattern is fixed "
        f"and only the kept triplets train on. Task loss: {run.loss[0]:.3f} at step 0, "
        f"{run.loss[-1]:.3f} at step {run.steps}.")
