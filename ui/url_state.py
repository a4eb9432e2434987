"""A page's settings in its URL: what a shared link or a new session sets, read once.

Shared by the calculator and the distributed page; each gives its session-state prefix,
its ``push(config)`` (config -> widgets) and its ``parse_query`` (URL -> config, messages)."""
from __future__ import annotations

from typing import Callable

import streamlit as st



APP_PARAMS = ("learner",)  # the whole app's parameters (ui/learner.py), never one page's settings


def page_query() -> dict:
    """The URL's parameters that belong to the page (the app's own, such as the learner, left out)."""
    return {k: v for k, v in st.query_params.to_dict().items() if k not in APP_PARAMS}


def write_query(query: dict) -> None:
    """Make the page's part of the URL ``query``, keeping the app's parameters."""
    if page_query() != query:
        kept = {k: v for k, v in st.query_params.to_dict().items() if k in APP_PARAMS}
        st.query_params.from_dict({**query, **kept})


def load_url(prefix: str, push: Callable, parse_query: Callable) -> list[str]:
    """A URL the page did not write itself sets the widgets; returns what was wrong with it."""
    query = page_query()
    if prefix + "config" in st.session_state and query == st.session_state.get(prefix + "last_query"):
        return []
    if not query and prefix + "config" in st.session_state:  # back from another page
        push(st.session_state[prefix + "config"])
        return []
    from peft_edu.models import preset_names  # imports torch: only where a calculator link is read

    config, messages = parse_query(query, preset_names())
    push(config)
    return messages
