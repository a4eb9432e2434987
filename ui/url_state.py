"""A page's settings in its URL: what a shared link or a new session sets, read once.

Shared by the calculator and the distributed page; each gives its session-state prefix,
its ``push(config)`` (config -> widgets) and its ``parse_query`` (URL -> config, messages)."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from peft_edu.models import preset_names


def load_url(prefix: str, push: Callable, parse_query: Callable) -> list[str]:
    """A URL the page did not write itself sets the widgets; returns what was wrong with it."""
    query = st.query_params.to_dict()
    if prefix + "config" in st.session_state and query == st.session_state.get(prefix + "last_query"):
        return []
    if not query and prefix + "config" in st.session_state:  # back from another page
        push(st.session_state[prefix + "config"])
        return []
    config, messages = parse_query(query, preset_names())
    push(config)
    return messages
