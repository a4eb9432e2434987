"""AppTest of the router and the home page: they render with no exception and show real numbers."""
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_app_router_renders_home_and_sidebar():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "PEFT Lab"
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    assert "Compute device" in sidebar_text and "torch" in sidebar_text


def test_home_memory_of_full_finetuning_7b():
    at = AppTest.from_file(str(ROOT / "app_pages" / "home.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    # mixed-precision AdamW: 2 (weights) + 2 (grads) + 4 (master) + 8 (Adam) bytes per parameter
    assert metrics["Total, before activations"] == f"{7e9 * 16 / 1e9:,.0f} GB"
    assert metrics["Adam states (2 × 32-bit)"] == f"{7e9 * 8 / 1e9:,.0f} GB"
    at.select_slider[0].set_value(70_000_000_000).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Total, before activations"] == "1,120 GB"
