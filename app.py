"""PEFT Lab: the router. Run with `streamlit run app.py`."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import streamlit as st  # noqa: E402

from pages.common import navigation_sections  # noqa: E402
from pages.quiz_widgets import render_quiz_progress_sidebar  # noqa: E402
from pages.state import init_state  # noqa: E402

st.set_page_config(page_title="PEFT Lab", page_icon=":material/tune:", layout="wide")
init_state()
page = st.navigation(navigation_sections())


@st.cache_resource
def _device_facts() -> tuple[str, dict[str, str]]:
    from peft_edu.device import device_label, versions

    return device_label(), versions()


with st.sidebar:
    label, vers = _device_facts()
    st.caption(f"**Compute device:** {label}")
    st.caption(" · ".join(f"{name} {v}" for name, v in vers.items()))
render_quiz_progress_sidebar()

page.run()
