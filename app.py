"""PEFT Lab: the router. Run with `streamlit run app.py`."""
import os
import threading

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import streamlit as st  # noqa: E402

from peft_edu.viz import load_pandas  # noqa: E402
from ui import learner, perf  # noqa: E402
from ui.guide import render_next  # noqa: E402
from ui.nav import navigation_sections  # noqa: E402
from ui.quiz_widgets import render_method_quiz, render_quiz_progress_sidebar  # noqa: E402
from ui.state import init_state  # noqa: E402

clock = perf.Clock()  # the server's CPU and wall time of this page run (ui/perf.py)
st.set_page_config(page_title="PEFT Lab", page_icon=":material/tune:", layout="wide")
# Captions: Streamlit fades them to 60 % opacity (3.9:1 on white, their links 3.0:1) and no theme option
# sets their colour; a grey at full opacity instead: 7.0:1 (WCAG AA 4.5:1; tests/e2e/test_narrow_e2e.py).
# Figures sent in a desktop and a phone layout (ui/charts.py): the browser's width shows one of them;
# the rule is ui.charts.NARROW_CSS, written out here because st.html only ever gets a constant
# (tests/test_safety.py; tests/test_narrow_layout.py checks the two are the same).
st.html("<style>[data-testid='stCaptionContainer']{opacity:1;color:#5c5955}"
        "@media (max-width: 640px) { [class*='st-key-figwide-'] { display: none; } }"
        "@media (min-width: 641px) { [class*='st-key-figphone-'] { display: none; } }</style>")
init_state()


def method_renderer(key: str):
    """The function that draws method ``key``'s page: the explainer, then its 3-question quiz."""
    def render() -> None:
        from ui.method import render_method  # torch-heavy: loaded with the first method page

        render_method(key)
        render_method_quiz(key)

    render.__name__ = f"method_{key}"
    return render


page = st.navigation(navigation_sections(method_renderer), expanded=True)  # every page listed, tools too


@st.cache_resource
def _warm_imports() -> None:
    """Once per server: import torch and the library in the background after the first page
    is drawn, so the first method page or lab visit does not wait seconds for imports; then
    the warm-up computes every method page and the Compare race (off: PEFT_LAB_WARM_UP=0)."""
    def load() -> None:
        load_pandas()  # before anything that may import it (transformers): see peft_edu/viz/__init__.py
        try:
            import peft_edu.inject  # noqa: F401  (imports torch)
            import peft_edu.viz.matrices  # noqa: F401
        except Exception:  # only a warm-up: a real import error shows on the page that needs it
            pass

    threading.Thread(target=load, name="warm-imports", daemon=True).start()
    from ui import warm

    warm.start()  # then every method page and the Compare race, in the background (ui/warm.py)
    perf.idle_collector()  # garbage collection in quiet moments, not after every page run (ui/perf.py)


@st.cache_resource
def _device_facts() -> tuple[str, dict[str, str]]:
    from peft_edu.device import device_label, versions

    return device_label(), versions()


with st.sidebar:
    label, vers = _device_facts()
    st.caption(f"**Compute device:** {label}")
    st.caption(" · ".join(f"{name} {v}" for name, v in vers.items()))
learner.render_sidebar()  # the learner from the URL's code (or a new one): kept work loads here
render_quiz_progress_sidebar()

try:
    if page.url_path:  # every page but home: pandas first (home builds its one figure without it)
        load_pandas()
    page.run()
    render_next(page.url_path)  # the guided path's next page, at the end of every page on it
finally:  # also when a click interrupts this run
    clock.done(page.url_path or "home")
    _warm_imports()
