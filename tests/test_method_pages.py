"""AppTest of every method page (ui/method.py render_method), from the registry.

Counts shown on the page are checked against closed forms: ``peft_edu.layer_params`` for
per-layer methods, the method modules' ``model_params`` for per-model ones.
"""
import pytest
from streamlit.testing.v1 import AppTest

import peft_edu
from peft_edu import METHODS
from peft_edu.lessons.explainer import knob_of
from tests.conftest import ROOT  # noqa: F401  (puts the repo root on sys.path)


def _page(key: str) -> None:
    from ui.method import render_method

    render_method(key)


def run_page(key: str) -> AppTest:
    return AppTest.from_function(_page, args=(key,), default_timeout=300).run()


def shown(at: AppTest, label: str) -> list[int]:
    """Every metric with this label, as integers, in page order."""
    return [int(m.value.replace(",", "")) for m in at.metric if m.label == label]


def other_stop(key: str) -> int:
    """A slider stop that is not the default (the next one up, or the one below the top)."""
    knob = knob_of(key)
    i = knob.options.index(knob.default)
    return knob.options[i + 1] if i + 1 < len(knob.options) else knob.options[i - 1]


@pytest.mark.parametrize("key", list(METHODS))
def test_method_page_renders_and_slider_updates_counts(key):
    at = run_page(key)
    assert not at.exception, at.exception
    spec = METHODS[key]
    assert at.title[0].value == spec.name
    assert any(spec.formula in x.value for x in at.latex)
    assert len(at.get("plotly_chart")) >= 2  # the animation and the share bar
    size = other_stop(key)
    at.select_slider(key=f"method_{key}_size").set_value(size).run()
    assert not at.exception, at.exception
    trainable, frozen = shown(at, "Trainable"), shown(at, "Frozen")
    knob = knob_of(key)
    if key in ("prompt_tuning", "prefix_tuning"):  # per model: all-MiniLM-L6-v2 (d 384, L 6), tiny BERT (16, 2)
        per_token = {"prompt_tuning": lambda d, L: d, "prefix_tuning": lambda d, L: 2 * L * d}[key]
        assert trainable[:2] == [size * per_token(384, 6), size * per_token(16, 2)]
        return
    big = 1000 if knob.arg else size
    assert trainable[0] == peft_edu.layer_params(key, big, big, **knob.config(size))
    assert frozen[0] == (0 if key == "full" else big * big)
    if key == "lora":
        assert trainable[0] == 2 * 1000 * size  # r (d_in + d_out)
    if key not in ("adapter", "ia3"):  # the animation's 16×24 toy layer, with the page run's other knobs
        import dataclasses

        from peft_edu.methods import protocol

        lesson = dataclasses.asdict(protocol(key).lesson.config) if protocol(key).lesson.model == "layer" else {}
        assert trainable[1] == peft_edu.layer_params(key, 16, 24, **{**lesson, **knob.config(size if knob.arg else 4)})


def test_lora_page_example_r4_is_8000_of_a_million():
    at = run_page("lora")
    assert shown(at, "Trainable")[0] == 8_000 and shown(at, "Frozen")[0] == 1_000_000
    assert any("4 \\cdot (1{,}000 + 1{,}000) = 8{,}000" in x.value for x in at.latex)


def test_unknown_method_shows_an_error():
    at = run_page("nope")
    assert not at.exception and "Unknown method" in at.error[0].value


def test_rank_above_the_layer_warns():
    """LoRA's page run adapts the toy MLP's 16 × 24 first layer: r = 32 > min(16, 24) warns,
    r = 16 does not (an update of a 16 × 24 matrix has rank at most 16)."""
    at = run_page("lora")
    assert not any("larger than min(d_out, d_in)" in w.value for w in at.warning)
    at.select_slider[0].set_value(32).run()
    assert any("larger than min(d_out, d_in) = 16" in w.value for w in at.warning)
    at.select_slider[0].set_value(16).run()
    assert not any("larger than min(d_out, d_in)" in w.value for w in at.warning)


def test_every_section_has_a_stable_link():
    """The page opens with a link per section (…/lora#counts), and each fragment is the anchor of
    a heading on the page (the quiz's is drawn by the router, after the page)."""
    from ui.method import SECTIONS

    at = run_page("lora")
    anchors = {h.proto.anchor for h in (*at.subheader, *at.header)}
    for label, anchor in SECTIONS:
        assert f"[{label}](#{anchor})" in at.markdown[0].value
        assert anchor in anchors or anchor == "quiz", anchor


def test_keyboard_stepping_shows_the_chosen_frame():
    """The toggle swaps the animation for a still figure at the step a (keyboard-operable)
    slider picks; that figure's tensors are the run's snapshot at that step."""
    import json

    from peft_edu.lessons.explainer import page_run

    at = run_page("lora")
    at.toggle(key="method_lora_stepping").set_value(True).run()
    assert not at.exception, at.exception
    run = page_run("lora", knob_of("lora").default)
    step = run.steps[-1]
    at.select_slider(key="method_lora_step").set_value(step).run()
    chart = next(c for c in at.get("plotly_chart") if "method_lora_still" in c.proto.id)
    spec = json.loads(chart.proto.spec)
    b = next(t for t in spec["data"] if t.get("name") == "B")
    expected = run.frames[run.steps.index(step)]["B"]
    assert abs(b["z"][0][0] - float(expected[0][0])) < 1e-3 and "Colours:" in chart.proto.spec
