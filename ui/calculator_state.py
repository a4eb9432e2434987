"""The calculator page's state: its widgets' session-state keys, kept in step with the URL.

The whole configuration lives in the URL so a teacher can share it. Before the widgets
render, ``load_url`` puts a URL the page did not write itself (a shared link, a new session)
into the widgets' keys and ``fix_inputs`` replaces what cannot be computed; after they
render, ``save`` writes the configuration they hold back into the URL.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from ui import url_state
from peft_edu.registry import METHODS
from peft_edu.sizing.config import (ALL_LINEAR, CUSTOM, DEFAULT, NUMBERS, TARGETS, CalcConfig, parse_query,
                                    to_query, validate)
from peft_edu.sizing.estimate import model_arch, model_shape

P = "calculator_"  # session-state prefix of this page
FIELDS = [f.name for f in dataclasses.fields(CalcConfig)]
BOUNDS = {field: (low, high) for field, low, high in NUMBERS.values()}
CUSTOM_DIMS = ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab")


def push(config: CalcConfig) -> None:
    """Write a configuration into the widgets' session-state keys (before they render)."""
    for field in FIELDS:
        value = getattr(config, field)
        st.session_state[P + field] = list(value) if isinstance(value, tuple) else value
    st.session_state[P + "all_linear"] = config.targets == (ALL_LINEAR,)
    if config.targets == (ALL_LINEAR,):
        st.session_state[P + "targets"] = list(DEFAULT.targets)


def pulled() -> CalcConfig:
    """The configuration the widgets hold."""
    values = {f: st.session_state.get(P + f, getattr(DEFAULT, f)) for f in FIELDS}
    values["methods"] = tuple(k for k in METHODS if k in values["methods"])
    values["targets"] = tuple(t for t in TARGETS if t in values["targets"])
    if st.session_state.get(P + "all_linear"):
        values["targets"] = (ALL_LINEAR,)
    return CalcConfig(**values)


def load_url() -> list[str]:
    """A URL the page did not write itself (a shared link, a new session) sets the widgets."""
    return url_state.load_url(P, push, parse_query)


def fix_inputs(messages: list[str]) -> None:
    """Replace what cannot be computed by a fallback, with a message (before widgets render)."""
    config = pulled()
    if not config.methods:
        messages.append(f"Choose at least one method; showing {', '.join(METHODS[m].name for m in DEFAULT.methods)}.")
        config = dataclasses.replace(config, methods=DEFAULT.methods)
    if not config.targets:
        messages.append("Choose at least one target matrix; using q and v.")
        config = dataclasses.replace(config, targets=DEFAULT.targets)
    config, problems = validate(config)
    messages.extend(problems)
    push(config)


def save(config: CalcConfig) -> None:
    """Remember the configuration on screen and write it into the URL (after the widgets)."""
    st.session_state[P + "config"] = config
    query = to_query(config)
    url_state.write_query(query)
    st.session_state[P + "last_query"] = query


def model_changed() -> None:
    """Switching to custom dimensions starts from the preset that was on screen."""
    if st.session_state[P + "model"] != CUSTOM:
        return
    last = st.session_state.get(P + "config", DEFAULT)
    if last.is_custom:
        return
    shape = model_shape(last)
    dims = (shape.n_layers, shape.d_model, shape.n_heads, shape.n_kv_heads, shape.d_ff, shape.vocab)
    for field, value in zip(CUSTOM_DIMS, dims):
        st.session_state[P + field] = int(min(max(value, BOUNDS[field][0]), BOUNDS[field][1]))
    st.session_state[P + "arch"] = model_arch(last).family  # the custom architectures are the families
