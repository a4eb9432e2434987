"""The Compare page's race settings in its URL (``?methods=lora,ia3&same=1``): a teacher's
link opens the race set up. UI only; unknown methods in a link are left out."""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from ui import url_state

state = st.session_state


@st.cache_resource(max_entries=64, show_spinner=False)
def race_one(method: str, same_settings: bool):
    """One method's run of the race (shared by every session; the warm-up fills it, ui/warm.py)."""
    from peft_edu.lessons import compare

    return compare.race_one(method, lr=compare.LR if same_settings else None)


def load_url() -> None:
    """Settings from a URL the page did not write itself (before the widgets render)."""
    query = url_state.page_query()
    if not query or query == state.get("compare_last_query"):
        return
    if "methods" in query:
        state["compare_methods"] = [k for k in str(query["methods"]).split(",") if k in METHODS]
    if "same" in query:
        state["compare_same_settings"] = str(query["same"]) == "1"


def save_url(chosen: list[str], same: bool) -> None:
    """The settings on screen into the URL (all methods: no list)."""
    query = {"same": "1" if same else "0"}
    if list(chosen) != list(METHODS):
        query["methods"] = ",".join(chosen)
    url_state.write_query(query)
    state["compare_last_query"] = query


PARETO_COSTS = {"trainable": "trainable parameters", "memory": "memory held", "time": "time",
                "forgetting": "forgetting"}


def _cost(result, axis: str) -> float:
    return {"trainable": result.trainable_without_head, "memory": result.memory_bytes / 1e3,
            "time": result.cpu_seconds, "forgetting": result.forgetting}[axis]


def pareto_chart(axis: str, chosen: tuple, same_settings: bool):
    """The race's Pareto chart against one cost (built once per choice: pass it to ui.charts.figure)."""
    from peft_edu.lessons.compare import pareto_front
    from peft_edu.viz.compare import pareto_figure

    results = {k: race_one(k, same_settings) for k in chosen}
    points = {k: (_cost(r, axis), r.test_accuracy) for k, r in results.items()}
    return pareto_figure(points, pareto_front(points), axis,
                         f"Accuracy against {PARETO_COSTS[axis]}")  # short: the title must fit 400 px


@st.cache_resource(max_entries=16, show_spinner=False)
def race_charts(chosen: tuple, same_settings: bool):
    """(loss curves, trainable bars) of the race of ``chosen``: built once per choice, shared."""
    from peft_edu.inject import total_parameters
    from peft_edu.lessons.transformer import pretrained
    from peft_edu.viz.compare import race_figure, trainable_figure

    results = {k: race_one(k, same_settings) for k in chosen}
    race = race_figure({k: r.loss for k, r in results.items()}, "Adapting a pretrained tiny BERT to a new task, every method")
    bars = trainable_figure({k: r.trainable_without_head for k, r in results.items()}, total_parameters(pretrained()))
    return race, bars
