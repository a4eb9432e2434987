"""AppTest of the live lab page: renders, every method has its knobs, runs, uploads."""
import pytest
from streamlit.testing.v1 import AppTest

from peft_edu import METHODS
from peft_edu.run_config import METHOD_CHOICES, label
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "lab.py")


@pytest.fixture
def at():
    app = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not app.exception, app.exception
    return app


def _labels(at) -> set[str]:
    return {w.label for w in [*at.select_slider, *at.number_input, *at.slider]}


def test_lab_renders_with_every_method(at):
    assert at.title[0].value == "Live fine-tune lab"
    assert at.selectbox(key="lab_method").options == [label(k) for k in METHOD_CHOICES]
    assert set(METHODS) < set(METHOD_CHOICES)


@pytest.mark.parametrize("method, knobs", [
    ("lora", {"Rank r", "Alpha α"}),
    ("vera", {"Rank r"}),
    ("lora_plus", {"LoRA+ ratio η_B / η_A"}),
    ("delta_lora", {"Delta-LoRA λ", "Delta-LoRA K (first step that moves W)"}),
    ("prompt_tuning", {"Virtual tokens n"}),
    ("prefix_tuning", {"Virtual tokens n"}),
    ("adapter", {"Bottleneck m"}),
])
def test_each_method_shows_its_knobs(at, method, knobs):
    at.selectbox(key="lab_method").set_value(method).run()
    assert not at.exception, at.exception
    labels = _labels(at)
    assert knobs <= labels, labels
    assert {"Learning rate", "Steps", "Batch size", "Seed"} <= labels


def test_methods_without_size_knob_have_only_the_budget(at):
    for method in ("full", "ia3", "head_only"):
        at.selectbox(key="lab_method").set_value(method).run()
        assert _labels(at) == {"Learning rate", "Steps", "Batch size", "Seed"}


def test_vera_defaults_to_a_large_rank(at):
    at.selectbox(key="lab_method").set_value("vera").run()
    assert at.select_slider(key="lab_knob_vera_r").value == 256  # VeRA paper / peft default
    at.selectbox(key="lab_method").set_value("lora").run()
    assert at.select_slider(key="lab_knob_lora_r").value == 8  # peft default
