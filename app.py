"""PEFT Lab: the router. Run with `streamlit run app.py`."""
import os
import threading

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import streamlit as st  # noqa: E402

from pages.common import navigation_sections  # noqa: E402
from pages.quiz_widgets import render_quiz_progress_sidebar  # noqa: E402
from pages.state import init_state  # noqa: E402

st.set_page_config(page_title="PEFT Lab", page_icon=":material/tune:", layout="wide")
init_state()
page = st.navigation(navigation_sections())


def _load_for_warm_up() -> None:
    try:
        # pandas first: plotly looks it up in sys.modules without importing it, so a page
        # building a figure while another thread is half-way through `import pandas` fails
        # ("partially initialized module 'pandas'"); pages wait for this warm-up instead
        import pandas  # noqa: F401
        import peft_edu.inject  # noqa: F401  (imports torch)
        import peft_edu.viz.matrices  # noqa: F401
    except Exception:  # only a warm-up: a real import error shows on the page that needs it
        pass


@st.cache_resource
def _warm_up() -> dict:
    """Once per server: the background thread that imports torch and the library after the
    first page is drawn, so the first method page or lab visit does not wait for imports."""
    return {"thread": None, "lock": threading.Lock()}


def _start_warm_imports() -> None:
    holder = _warm_up()
    with holder["lock"]:
        if holder["thread"] is None:
            holder["thread"] = threading.Thread(target=_load_for_warm_up, name="warm-imports", daemon=True)
            holder["thread"].start()


def _wait_for_warm_imports() -> None:
    """Pages run once the warm-up's imports are complete (see ``_load_for_warm_up``)."""
    thread = _warm_up()["thread"]
    if thread is not None and thread.is_alive():
        with st.spinner("Loading PyTorch and the library (once after the server starts)…"):
            thread.join()


@st.cache_resource
def _device_facts() -> tuple[str, dict[str, str]]:
    from peft_edu.device import device_label, versions

    return device_label(), versions()


with st.sidebar:
    label, vers = _device_facts()
    st.caption(f"**Compute device:** {label}")
    st.caption(" · ".join(f"{name} {v}" for name, v in vers.items()))
render_quiz_progress_sidebar()

_wait_for_warm_imports()
try:
    page.run()
finally:  # also when a click interrupts this run: the warm-up starts once a page has been drawn
    _start_warm_imports()
