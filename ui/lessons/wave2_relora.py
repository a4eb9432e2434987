"""ReLoRA's lesson: the total update reaching a rank above r after several restarts.

UI only; the function is named by the registry key (found by ``ui.lessons``). Data from
``peft_edu.lessons.wave2_relora`` (cached with st.cache_resource), figures from
``peft_edu.viz.wave2_relora``.
"""
from __future__ import annotations

import streamlit as st

from ui.charts import chart, figure

from peft_edu.lessons import wave2_relora as data
from peft_edu.viz import wave2_relora as figs
from ui.lessons import pretraining

_run = st.cache_resource(max_entries=1, show_spinner=False)(data.restart_run)


def relora() -> None:
    st.subheader("ReLoRA: rank r per round, more rank in total")
    with st.spinner("Training ReLoRA and LoRA on the tiny BERT…"):
        run = _run()
    chart(figure(figs.spectrum_figure, run), "lesson_relora_spectrum")
    ranks = ", ".join(str(k) for k in run.ranks)
    st.markdown(
        f"Two real runs on a 2-block BERT of width 16 (query and value adapted, Adam, lr {run.lr}, "
        f"{run.steps} steps, rank r = {run.r} in both). ReLoRA merges s·B·A into W and restarts A, B every "
        f"K = {run.K} steps; after each restart the singular values of the total change W − W₀ of "
        f"{run.layer} were taken. Its rank after restarts 1, 2, …: **{ranks}** — each round adds up to r new "
        f"directions, because the rank of a sum is at most, and here equal to, the sum of the ranks. LoRA's "
        f"change s·B·A stays at rank **{run.lora_rank}** however long it trains (values below 10⁻⁶ of the "
        "largest count as zero).")
    chart(figure(figs.loss_figure, run), "lesson_relora_loss")
    st.markdown(
        f"Final loss: ReLoRA {run.relora_loss[-1]:.3f}, LoRA {run.lora_loss[-1]:.3f}. On this small "
        "fine-tuning task one rank-2 update is nearly enough, so the extra rank buys little and the decaying, "
        "restarted rate costs a bit; ReLoRA's case is pre-training, where the change needed is high-rank "
        "(the pre-training experiment compares them).")
    pretraining.relora_summary()  # its numbers in the pre-training experiment (ui/lessons/pretraining.py)
