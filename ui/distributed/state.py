"""The distributed page's state: its session keys, and the multi-GPU calculator kept in the URL.

As on the calculator page (``ui.calculator_state``): before the widgets render, ``load_url``
puts a URL the page did not write itself into the widgets' keys; after, ``save`` writes the
configuration back. The keys are the calculator's plus N, zero, tp, pp, mb and prec.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from ui import url_state
from peft_edu.distributed.plan import DEFAULT, NUMBERS, DistConfig, parse_query, to_query, validate
from peft_edu.registry import METHODS
from peft_edu.sizing.config import ALL_LINEAR, TARGETS

P = "dist_"  # session-state prefix of this page
CALC_FIELDS = ("model", "arch", "layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "methods", "r", "targets",
               "vera_r", "n_tokens", "bottleneck", "batch", "seq", "checkpointing")
LAYOUT_FIELDS = ("n_gpus", "stage", "tp", "pp", "micro_batches", "convention")
BOUNDS = {field: (low, high) for field, low, high in NUMBERS.values()}
SESSION = {  # the page's other keys, declared once (DESIGN.md rule 10)
    "dist_jobs": list,  # this session's distributed runs (peft_edu.lab.jobs.Job), oldest first
    "dist_seen_finished": set,  # job ids whose end already triggered a full rerun
}


def init_state() -> None:
    for key, value in SESSION.items():
        st.session_state.setdefault(key, value())


def push(config: DistConfig) -> None:
    """Write a configuration into the widgets' keys (before they render)."""
    for field in CALC_FIELDS:
        value = getattr(config.calc, field)
        st.session_state[P + field] = list(value) if isinstance(value, tuple) else value
    st.session_state[P + "all_linear"] = config.calc.targets == (ALL_LINEAR,)
    if config.calc.targets == (ALL_LINEAR,):
        st.session_state[P + "targets"] = list(DEFAULT.calc.targets)
    for field in LAYOUT_FIELDS:
        st.session_state[P + field] = getattr(config, field)


def pulled() -> DistConfig:
    """The configuration the widgets hold."""
    values = {f: st.session_state.get(P + f, getattr(DEFAULT.calc, f)) for f in CALC_FIELDS}
    values["methods"] = tuple(k for k in METHODS if k in values["methods"]) or DEFAULT.calc.methods
    values["targets"] = tuple(t for t in TARGETS if t in values["targets"]) or DEFAULT.calc.targets
    if st.session_state.get(P + "all_linear"):
        values["targets"] = (ALL_LINEAR,)
    calc = dataclasses.replace(DEFAULT.calc, **values)
    layout = {f: st.session_state.get(P + f, getattr(DEFAULT, f)) for f in LAYOUT_FIELDS}
    return DistConfig(calc=calc, **layout)


def load_url() -> list[str]:
    """A URL the page did not write itself (a shared link, a new session) sets the widgets."""
    return url_state.load_url(P, push, parse_query)


def fix_inputs(messages: list[str]) -> DistConfig:
    """A layout the model cannot take (t not dividing the heads, ...) is replaced, with a message."""
    config, problems = validate(pulled())
    messages.extend(problems)
    if problems:
        push(config)
    return config


def current() -> tuple[DistConfig, list[str]]:
    """The configuration the widgets hold, made computable (after the widgets have rendered)."""
    return validate(pulled())


def save(config: DistConfig) -> None:
    st.session_state[P + "config"] = config
    query = to_query(config)
    url_state.write_query(query)
    st.session_state[P + "last_query"] = query
