"""Lessons of the cheapest baselines (BitFit, LN tuning) and of PiSSA's start.

UI only; one function per method, named by its registry key (found by ``ui.lessons``). The
data come from ``peft_edu.lessons.baselines`` (cached with st.cache_resource), the figures from
``peft_edu.viz.baselines``.
"""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from peft_edu.lessons import baselines as data
from peft_edu.viz import baselines as figs
from peft_edu.viz.style import fmt_int
from ui.charts import chart, figure

_runs = st.cache_resource(max_entries=1, show_spinner=False)(data.baseline_runs)
_pissa = st.cache_resource(max_entries=1, show_spinner=False)(data.pissa_start)


def _cheapest(key: str, what: str) -> None:
    """The shared lesson of BitFit and LN tuning: trainable share against accuracy."""
    st.subheader("The cheapest baselines: how little has to train?")
    runs = _runs()
    chart(figure(figs.share_accuracy_figure, runs, key), f"lesson_{key}_share")
    by = {run.method: run for run in runs}
    mine = by[key]
    others = ", ".join(f"{METHODS[r.method].name if r.method in METHODS else 'head only'} "
                       f"{100 * r.accuracy:.1f} % with {r.share:.3f} % trainable" for r in runs if r.method != key)
    st.markdown(
        f"Real live-lab runs on all-MiniLM-L6-v2 (each method's lab defaults, {mine.steps} steps of 16 "
        f"sentences). {METHODS[key].name} trains {what}: **{fmt_int(mine.trainable)}** numbers, "
        f"**{mine.share:.3f} %** of the encoder, and reached **{100 * mine.accuracy:.1f} %** test accuracy "
        f"(lr {mine.lr:g}). The others: {others}. Recorded by `scripts/measure_baselines.py`; a run takes "
        "minutes on a shared CPU, so the page shows the record instead of rerunning it.")


def bitfit() -> None:
    _cheapest("bitfit", "only the bias vectors (all of them; the paper also tries just the query bias and the "
                        "second feed-forward bias, 0.04 % of BERT-large, nearly as good)")


def ln_tuning() -> None:
    _cheapest("ln_tuning", "only the layer norms' gains and biases, 2·d per norm")


def pissa() -> None:
    st.subheader("Where PiSSA starts: the principal part of W, not zero")
    with st.spinner("Training LoRA and PiSSA on the toy layer…"):
        s = _pissa()
    chart(figure(figs.pissa_start_figure, s), "lesson_pissa_start")
    st.markdown(
        f"Two real runs on the toy layer, rank r = {s.r}, α = r, learning rate {s.lr}. At step 0 LoRA's B·A is "
        f"exactly zero; PiSSA's is W's top-{s.r} singular part, and the frozen base holds the rest, so the model "
        f"is still the base (‖s(BA − B₀A₀)‖ = {s.pissa_change0:.1g}). PiSSA's loss falls faster at first — "
        f"{s.pissa_loss[5]:.2e} against LoRA's {s.lora_loss[5]:.2e} at step 5 — and stays ahead until step "
        f"{s.ahead_until}. On this toy task the change to learn lies in random directions, not W's principal ones, "
        f"so LoRA then catches up ({s.lora_loss[-1]:.1e} vs {s.pissa_loss[-1]:.1e} at step {len(s.lora_loss) - 1}); "
        "the paper's gains come from real fine-tuning, where the principal directions are the ones that matter.")
