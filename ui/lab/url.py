"""The lab's recipe in its URL (``?method=vera&r=64&lr=0.002&steps=50&batch=16&dropout=0&seed=0``), so a
teacher can hand out a link that opens the lab set up. UI only: the widget keys are
``ui.lab.knobs``'s; a value out of range snaps to the nearest one the widget offers, an
unknown method or field is ignored. ``data=builtin|upload`` picks the data set (an uploaded file
itself cannot travel in a link: ``upload`` opens the learner's own kept upload).
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from peft_edu.lab.run_config import METHOD_CHOICES, RunConfig, defaults
from peft_edu.lab.data import BUILTIN_NAME
from ui import url_state
from ui.lab.data import UPLOAD
from ui.lab.knobs import BATCH_CHOICES, DROPOUT_CHOICES, LR_CHOICES, WIDGETS, nearest, step_range, widget_key

BUDGET = {"lr": "lr", "steps": "steps", "batch": "batch_size", "dropout": "model_dropout", "seed": "seed"}  # URL key -> RunConfig field
state = st.session_state


def _number(text) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if value == value and abs(value) < 1e9 else None  # not NaN, not absurd


def _knob(method: str, name: str, value: float, default) -> None:
    widget = WIDGETS[name]
    if widget.choices:
        state[widget_key(method, name)] = nearest(widget.choices, value)
    else:
        state[widget_key(method, name)] = type(default)(min(max(value, 0), widget.top))


DATA = {"builtin": BUILTIN_NAME, "upload": UPLOAD}  # URL value -> the data radio's option


def load_url() -> None:
    """A URL the page did not write itself sets the data choice, the method and its knobs (before
    the widgets). ``data=upload`` selects the learner's own kept upload (the file itself stays
    with the learner: it never travels in a link)."""
    query = url_state.page_query()
    if not query or query == state.get("lab_last_query"):
        return
    if query.get("data") in DATA:
        state["lab_data_source"] = DATA[query["data"]]
    if query.get("method") not in METHOD_CHOICES:
        return
    method = state["lab_method"] = query["method"]
    start = defaults(method)
    fields = {f.name for f in dataclasses.fields(start.config)} if start.config is not None else set()
    for name in fields & set(WIDGETS) & set(query):
        value = _number(query[name])
        if value is not None:
            _knob(method, name, value, getattr(start.config, name))
    budget = {key: _number(query[key]) for key in BUDGET if key in query}
    if budget.get("lr") is not None:
        state[widget_key(method, "lr")] = nearest(LR_CHOICES, budget["lr"])
    if budget.get("steps") is not None:
        low, top = step_range()  # above the teacher's cap: the cap
        state[widget_key(method, "steps")] = int(min(max(budget["steps"], low), top))
    if budget.get("batch") is not None:
        state[widget_key(method, "batch")] = nearest(BATCH_CHOICES, budget["batch"])
    if budget.get("dropout") is not None:
        state[widget_key(method, "model_dropout")] = nearest(DROPOUT_CHOICES, budget["dropout"])
    if budget.get("seed") is not None:
        state[widget_key(method, "seed")] = int(min(max(budget["seed"], 0), 10_000))


def save_url(cfg: RunConfig) -> None:
    """The data choice and the recipe on screen into the URL (after the widgets)."""
    source = state.get("lab_data_source", BUILTIN_NAME)
    query = {"data": next((k for k, v in DATA.items() if v == source), "builtin"), "method": cfg.method}
    if cfg.config is not None:
        query |= {f.name: f"{getattr(cfg.config, f.name):g}" for f in dataclasses.fields(cfg.config)
                  if f.name in WIDGETS}
    query |= {key: f"{getattr(cfg, field):g}" for key, field in BUDGET.items()}
    url_state.write_query(query)
    state["lab_last_query"] = query
