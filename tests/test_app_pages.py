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


def _page_links(at) -> list[str]:
    return [el.proto.label for el in at.get("page_link")]


def test_guided_path_home_lists_it_and_each_page_links_the_next():
    """Home says where to start (the numbered path) and ends with the first step; a page on the
    path ends with a link to the next one, the last (the quiz) with none."""
    from ui.guide import next_step, path

    names = [name for name, _ in path()]
    assert names[0] == "home" and names[-1] == "quiz" and {"full", "lora", "qlora", "lab"} <= set(names)
    assert next_step("quiz") is None and next_step("vera") is None  # the end, and a page off the path
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    links = _page_links(at)
    assert [label for label in links if label[:2] == "1."] and any(
        label.startswith("Next on the guided path") for label in links)
    first, why = next_step("home")
    assert f"1. " in links[[label.startswith("1.") for label in links].index(True)]
    assert any(why in label for label in links)
