"""AppTest of render_lesson(key) for every method: no exception, the lesson's charts and numbers."""
import pytest
from streamlit.testing.v1 import AppTest

import peft_edu

CHARTS = {"full": 1, "lora": 5, "rslora": 1, "lora_fa": 2, "vera": 1, "delta_lora": 1, "lora_plus": 1, "dora": 2,
          "qlora": 4, "prompt_tuning": 3, "prefix_tuning": 3, "adapter": 1, "ia3": 2,
          "pissa": 1, "bitfit": 1, "ln_tuning": 1, "adalora": 1, "lokr": 2, "galore": 2, "relora": 2,
          "oft": 1}


def _lesson(key: str) -> None:
    from ui.lessons import render_lesson

    render_lesson(key)


def _run(key: str) -> AppTest:
    return AppTest.from_function(_lesson, args=(key,), default_timeout=600).run()


def test_every_registry_method_has_a_lesson():
    assert set(CHARTS) == set(peft_edu.METHODS)


@pytest.mark.parametrize("key", list(CHARTS))
def test_lesson_renders(key):
    at = _run(key)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.header[0].value == f"Lesson: {peft_edu.METHODS[key].name} up close"
    keys = [c.key for c in at.get("plotly_chart")]
    wide = [k for k in keys if not k.endswith("_phone")]
    assert len(wide) == CHARTS[key]
    assert all(k[: -len("_phone")] in wide for k in keys if k.endswith("_phone"))  # a phone layout has its figure


def test_unknown_key_warns():
    at = _run("nope")
    assert not at.exception
    assert "No method-specific lesson" in at.warning[0].value


def test_lora_rank_slider_changes_the_shown_rank():
    at = _run("lora")
    at.select_slider(key="lesson_lora_rank").set_value(2).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "numerical rank **2** (at most r = 2)" in text


def test_vera_sharing_checked_on_the_model():
    at = _run("vera")
    text = " ".join(m.value for m in at.markdown)
    assert "**same object** (True)" in text and "**same memory** (True)" in text
    kinds = list(at.dataframe[0].value["kind"])
    assert kinds.count("buffer (frozen, shared)") == 2


def test_lora_plus_ratio_slider():
    at = _run("lora_plus")
    at.select_slider(key="lesson_lora_plus_ratio").set_value(4).run()
    assert not at.exception, at.exception
    names = {t["name"] for t in __import__("json").loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert names == {"ratio 1 (plain LoRA)", "ratio 4", "ratio 16"}


def test_qlora_shows_real_weights_and_errors():
    at = _run("qlora")
    assert not at.warning  # the pretrained weights were read, no fallback
    errors = at.dataframe[0].value
    assert list(errors["bits per weight"]) == ["4.500", "4.500", "4.127"]
