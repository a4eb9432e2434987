"""The lab race's Pareto chart: test accuracy against one cost, for the runs of one race.

UI only. The runs come from the store (``ui.lab.keep``: every race's runs carry its race id), so
the chart is the same after a refresh; the points and the front are ``peft_edu.lab.pareto``'s,
the figure is the Compare page's ``peft_edu.viz.compare.pareto_figure``.
"""
from __future__ import annotations

import streamlit as st

from peft_edu.lab import pareto
from peft_edu.lab.drift import N_GENERAL
from peft_edu.lab.run_config import label
from peft_edu.lab.saved import saved_view
from peft_edu.registry import METHODS
from peft_edu.store.schema import LIVE
from peft_edu.viz.style import fmt_bytes, fmt_int
from ui.charts import chart, figure

FORGETTING_NOTE = (
    "**Forgetting, the lab's stand-in.** Hugging Face peft's method comparison reports forgetting as the "
    "change of the masked-language-model loss on held-out general text. all-MiniLM-L6-v2 has no masked-LM "
    "head (it was trained for sentence embeddings), so the lab measures how far the fine-tuned encoder's "
    "sentence embeddings — the last hidden states averaged over the real tokens, as sentence-transformers "
    f"uses the model — moved away from the base model's on {N_GENERAL} help-desk passages that are not from "
    "your task (the Semantic search page's shipped text): 1 − mean cosine, 0 = unchanged. A head-only run "
    "cannot change the encoder and measures 0; QLoRA starts above 0 because its 4-bit weights differ from "
    "the originals before any training. Measured once after each run, outside its time.")


def _race_name(runs: list) -> str:
    """'Race 2 · LoRA, (IA)³, Prompt tuning': the race's number (from its runs' labels) and methods."""
    number = runs[0].label.split(" · ")[0]
    return f"{number} · {', '.join(label(run.method) for run in runs)}"


def _family(method: str) -> str:
    """The colour family of a method; the head-only baseline is drawn as a baseline."""
    return METHODS[method].family if method in METHODS else "baseline"


def _build(axis: str, ids: tuple, names: tuple, families: tuple, costs: tuple, accuracies: tuple):
    """The chart from plain tuples (so ``ui.charts.figure`` builds it once per race and axis)."""
    from peft_edu.viz.compare import pareto_figure

    points = {i: (c, a) for i, c, a in zip(ids, costs, accuracies)}
    return pareto_figure(points, pareto.front(points), axis, f"Accuracy against {pareto.COST_NAMES[axis]}",
                         names=dict(zip(ids, names)), families=dict(zip(ids, families)), axes=pareto.AXES,
                         y_title="test accuracy (whole test split)")


def _row(run, result, on_front: bool) -> dict:
    """Every number behind the chart, as the results table writes it."""
    memory = pareto.own_memory(result)
    return {
        "method": label(run.method),
        "test accuracy": f"{100 * result.test_accuracy:.1f}%",
        "trainable params": fmt_int(result.trainable),
        "run's memory": fmt_bytes(memory) if memory else "—",
        "time (s)": f"{result.seconds:,.1f}",
        "drift (1 − cos)": f"{result.drift:.4f}" if result.drift is not None else "—",
        "on the front": "yes" if on_front else "no",
        "run": run.label,
    }


def _draw(runs: list, results: dict, axis: str) -> list[str]:
    """The chart of ``runs`` against ``axis`` and the sentence naming its front; returns the front."""
    points = pareto.points(results, axis)
    front = pareto.front(points)
    by_id, ids = {run.id: run for run in runs}, tuple(points)
    fig = figure(_build, axis, ids, tuple(label(by_id[i].method) for i in ids),
                 tuple(_family(by_id[i].method) for i in ids), tuple(points[i][0] for i in ids),
                 tuple(points[i][1] for i in ids))
    chart(fig, key="lab_pareto_chart")
    names = ", ".join(label(by_id[i].method) for i in front)
    st.caption(f"**Pareto front ({pareto.COST_NAMES[axis]}): {names}.** A run is on the front when no other run of "
               "this race is cheaper and at least as accurate (ringed markers). Runs of a race share the steps, "
               "batch size and seed; only runs that finished every step are drawn.")
    missing = [label(run.method) for run in runs if run.id not in points]
    if missing:
        st.caption(f"Not drawn on this axis (not measured for these runs, kept before it existed): "
                   f"{', '.join(missing)}.")
    return front


def render_pareto(saved: list) -> None:
    """The Pareto chart of the learner's newest race with at least two finished runs (or the one chosen)."""
    races = pareto.finished_races(saved)
    if not races:
        return
    st.subheader("Your race: what each method bought, and what it cost")
    race = next(iter(races))
    if len(races) > 1:
        race = st.selectbox("Race", list(races), format_func=lambda r: _race_name(races[r]), key="lab_pareto_race")
    waiting = [label(run.method) for run in saved if run.race == race and run.status in LIVE]
    if waiting:
        st.caption(f"Still training or queued in this race: {', '.join(waiting)}; each joins the chart when it ends.")
    axis = st.radio("Accuracy against", list(pareto.AXES), horizontal=True, key="lab_pareto_axis",
                    format_func=pareto.COST_NAMES.get)
    runs = races[race]
    results = {run.id: saved_view(run).result for run in runs}
    front = _draw(runs, results, axis)
    st.dataframe([_row(run, results[run.id], run.id in front) for run in runs], hide_index=True,
                 key="lab_pareto_table")
    if axis == "forgetting":
        st.caption(FORGETTING_NOTE)
