"""Hostile input across the app (issue 8): whatever a learner types into the URL or pushes a
slider to, every page answers with its content or a clear message, never a traceback.

Page-specific cases live next to each page's tests (calculator URL values:
test_calculator_page.py; CSV uploads: test_data.py and test_lab_page.py; job stop/queue:
test_jobs.py). This file checks the app as a whole.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from peft_edu import METHODS
from tests.conftest import ROOT
from tests.tiny import TINY_CSV

# Malformed, out-of-range and malicious query strings a learner might paste or be sent.
HOSTILE_QUERIES = [
    {"model": "../../etc/passwd", "r": "-5", "methods": "lora,,nope"},
    {"r": "1e309", "alpha": "nan", "batch": "99999999999999999999", "seq": "0"},
    {"model": "<script>alert(1)</script>", "targets": "=cmd|' /C calc'!A0"},
    {"page": "\x00\x01", "x": "%%%", "": ""},
]
SCRIPT_PAGES = ["home.py", "calculator.py", "lab.py", "compare.py", "quiz.py"]


def _no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
@pytest.mark.parametrize("script", SCRIPT_PAGES)
def test_script_pages_survive_hostile_query_strings(script, query):
    at = AppTest.from_file(str(ROOT / "app_pages" / script), default_timeout=300)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    _no_traceback(at)
    assert at.title, f"{script} drew no title"  # the page itself, not an empty screen


def _method(key: str) -> None:
    from ui.method import render_method

    render_method(key)


@pytest.mark.parametrize("key", ["lora", "vera", "prefix_tuning"])
def test_method_pages_survive_hostile_query_strings(key):
    at = AppTest.from_function(_method, args=(key,), default_timeout=300)
    for name, value in HOSTILE_QUERIES[2].items():
        at.query_params[name] = value
    at.run()
    _no_traceback(at)
    assert at.title[0].value.startswith(METHODS[key].name)


@pytest.mark.parametrize("key", list(METHODS))
def test_method_size_slider_at_both_extremes(key):
    """The smallest and the largest stop of every method's size slider render and count."""
    from peft_edu.lessons.explainer import knob_of

    knob = knob_of(key)
    at = AppTest.from_function(_method, args=(key,), default_timeout=300).run()
    _no_traceback(at)
    slider = at.select_slider(key=f"method_{key}_size")
    for stop in (knob.options[0], knob.options[-1]):
        slider.set_value(stop).run()
        _no_traceback(at)
        assert at.metric, "the counts disappeared"


def test_unknown_page_in_the_router_falls_back_to_home():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["page"] = "../../secret"
    at.run()
    _no_traceback(at)
    assert at.title[0].value == "PEFT Lab"


def test_rapid_start_stop_clicking_in_the_lab():
    """Start/Stop hammered five times: no traceback, never more runs at once than the limit,
    and every run of the session ends (stopped, cancelled or done)."""
    from peft_edu.lab import jobs

    at = AppTest.from_file(str(ROOT / "app_pages" / "lab.py"), default_timeout=300)
    at.session_state["lab_baseline_auto"] = False
    at.run()
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
    at.number_input(key="lab_knob_lora_steps").set_value(3).run()
    try:
        for _ in range(5):
            at.button(key="lab_start").click().run()
            _no_traceback(at)
            running = [j for j in jobs.active_jobs() if j.view().status == "running"]
            assert len(running) <= jobs.max_runs()
            stop = [b for b in at.button if b.key == "lab_stop"]
            if stop:
                stop[0].click().run()
                _no_traceback(at)
        mine = at.session_state["lab_jobs"]
        assert len(mine) == 5, "each Start queued exactly one run"
        for job in mine:
            job.stop()
            assert job.wait(300), "a run did not end after Stop"
        assert {job.view().status for job in mine} <= {"stopped", "cancelled", "done"}
    finally:
        for job in at.session_state["lab_jobs"]:
            job.stop()
