"""Every link between pages goes through ``link``: one helper, pages named as in ``ui.nav``."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ui import nav


def link(name: str, label: str | None = None, icon: str | None = None) -> None:
    """A link to the page ``name`` ("home", "quiz", a tool page or a method key).

    Outside the app's navigation (a page script tested on its own) there is no page to link
    to: the label is shown as text with the sidebar title to look for."""
    label = label or nav.title(name)
    try:
        st.page_link(nav.page(name), label=label, icon=icon)
    except StreamlitAPIException:
        st.caption(f"{label} (see the {nav.title(name)} page in the sidebar)")
