"""AppTest: a learner's code brings back the quiz in progress and the sidebar progress in a new
session, an unknown code starts afresh, "Delete my data" removes everything; each against a
real SQLite file and a real PostgreSQL server (tests/pg.py)."""
from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.stores import app_store, postgres_server, store_url, written  # noqa: F401  (fixtures)

QUIZ = str(ROOT / "app_pages" / "quiz.py")


def _answer_right(at: AppTest, q, prefix: str) -> None:
    if q.kind == "single":
        at.radio(key=f"{prefix}_single").set_value(min(q.correct))
    elif q.kind == "multi":
        for j in q.correct:
            at.checkbox(key=f"{prefix}_opt{j}").check()
    else:
        at.text_input(key=f"{prefix}_numeric").input(f"{q.answer:,}")
    at.run()
    at.button(key=f"{prefix}_check").click().run()


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_code_brings_back_the_quiz_and_the_progress(app_store):
    at = AppTest.from_file(QUIZ, default_timeout=60).run()
    at.multiselect(key="quiz_topics_w").set_value(["lora", "qlora"])
    at.select_slider(key="quiz_length_w").set_value(5)
    _button(at, "Start quiz").click().run()
    quiz, code = at.session_state["quiz_current"], at.query_params["learner"]
    code = code[-1] if isinstance(code, list) else code
    for i in range(2):
        _answer_right(at, quiz.questions[i], f"quiz_{quiz.seed}_{i}")
        assert not at.exception, at.exception
        if i == 0:
            _button(at, "Next question").click().run()
    progress = at.session_state["quiz_progress"]
    assert sum(a for a, _ in progress.values()) == 2

    again = AppTest.from_file(QUIZ, default_timeout=60)  # a new session: a refresh, another browser
    again.query_params["learner"] = code
    again.run()
    assert not again.exception, again.exception
    assert again.session_state["quiz_current"].seed == quiz.seed
    assert [q.id for q in again.session_state["quiz_current"].questions] == [q.id for q in quiz.questions]
    assert again.session_state["quiz_position"] == 1 and set(again.session_state["quiz_graded"]) == {0, 1}
    assert again.session_state["quiz_progress"] == progress
    assert again.session_state["quiz_length"] == 5 and again.session_state["quiz_topics"] == ["lora", "qlora"]
    bars = [p.proto.text for p in again.get("progress")]
    assert any("Question 2 of 5 · 2 correct so far" in b for b in bars), bars
    assert "Correct" in " ".join(s.value for s in again.success)  # question 2's feedback is back
    learner = again.session_state["learner"]
    assert app_store.answer_count(learner.id) == 2


def test_an_unknown_or_tampered_code_starts_afresh(app_store):
    first = AppTest.from_file(QUIZ, default_timeout=60).run()
    code = first.session_state["learner_code"]
    written(app_store.learner, first.session_state["learner"].id)
    app_store.record_answer(first.session_state["learner"].id, "q", "lora", True)
    tampered = code[:-1] + ("2" if code[-1] != "2" else "3")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["learner"] = tampered
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["learner_code"] != tampered and at.session_state["quiz_progress"] == {}
    assert "unknown" in " ".join(i.value for i in at.sidebar.info)


def test_delete_my_data(app_store):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    me, code = at.session_state["learner"], at.session_state["learner_code"]
    written(app_store.learner, me.id)  # home leaves the new learner to be written just after its run
    app_store.record_answer(me.id, "q", "lora", True)
    at.sidebar.text_input(key="learner_name_w").input("Ann").run()
    assert app_store.learner(me.id).name == "Ann"
    at.sidebar.checkbox(key="learner_delete_confirm").check().run()
    at.sidebar.button(key="learner_delete").click().run()
    assert not at.exception, at.exception
    assert app_store.find(code) is None and app_store.learner(me.id) is None
    assert at.session_state["learner"].id != me.id and at.session_state["quiz_progress"] == {}


def test_delete_in_one_tab_is_a_clean_new_start_in_the_other(app_store):
    """Two tabs of one learner; "Delete my data" in one: the other's next run says so and goes on
    as a new learner (its answers go to the new learner, nothing raises)."""
    one = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    me, code = one.session_state["learner"], one.session_state["learner_code"]
    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    other.query_params["learner"] = code
    other.run()
    assert other.session_state["learner"].id == me.id
    one.sidebar.checkbox(key="learner_delete_confirm").check().run()
    one.sidebar.button(key="learner_delete").click().run()
    other.run()
    assert not other.exception, other.exception
    assert other.session_state["learner"].id != me.id and app_store.learner(me.id) is None
    written(app_store.learner, other.session_state["learner"].id)  # the new start is kept (after the run)
    assert "was deleted" in " ".join(i.value for i in other.sidebar.info)


def test_a_page_that_keeps_its_settings_in_the_url_keeps_the_learner_too(app_store):
    """The calculator writes its configuration into the URL: the learner's code stays beside it,
    and a changed widget is not undone by the URL on the next run."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    code = at.session_state["learner_code"]
    at.switch_page("app_pages/calculator.py").run()
    assert not at.exception, at.exception
    at.slider(key="calculator_r").set_value(16).run()
    at.run()
    assert at.session_state["calculator_r"] == 16
    query = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert query["r"] == "16" and query["learner"] == code


def test_the_quiz_settings_are_in_its_url(app_store):
    at = AppTest.from_file(QUIZ, default_timeout=60)
    at.query_params.update({"topics": "lora,qlora,nonsense", "n": "5"})  # a teacher's link
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["quiz_topics"] == ["lora", "qlora"] and at.session_state["quiz_length"] == 5
    assert at.multiselect(key="quiz_topics_w").value == ["lora", "qlora"]
    at.select_slider(key="quiz_length_w").set_value(15).run()
    query = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert query["n"] == "15" and query["topics"] == "lora,qlora" and query["learner"]


def _size_slider_app() -> None:
    from ui.method import _size_slider

    _size_slider("lora")


def test_a_method_pages_size_knob_is_in_its_url():
    at = AppTest.from_function(_size_slider_app, default_timeout=120)
    at.query_params["size"] = "16"  # a teacher's link to the LoRA page at r = 16
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["method_lora_size"] == 16
    at.select_slider(key="method_lora_size").set_value(32).run()
    assert at.query_params["size"] in ("32", ["32"])
    bad = AppTest.from_function(_size_slider_app, default_timeout=120)
    bad.query_params["size"] = "7"
    bad.run()
    assert "not available" in bad.warning[0].value


def test_a_corrupt_database_file_is_a_message_and_a_fresh_start(tmp_path, monkeypatch):
    from ui import learner

    broken = tmp_path / "lab.sqlite3"
    broken.write_bytes(b"not a database at all " * 500)
    monkeypatch.setenv("PEFT_LAB_DB", f"sqlite:///{broken}")
    monkeypatch.setenv("PEFT_LAB_DATA", str(tmp_path / "data"))
    learner._open.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        assert not at.exception, at.exception
        # home's first run does not wait for the store; it is opened just after, and from the
        # next run on the sidebar says what happened
        deadline = time.monotonic() + 30
        while not learner._open.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        at.run()
        assert not at.exception, at.exception
        warning = " ".join(w.value for w in at.sidebar.warning)
        assert "could not be read" in warning and "fresh, empty store" in warning
        assert at.session_state["learner"] is not None  # the fresh store works at once
        assert list(tmp_path.glob("lab.sqlite3.unreadable-*"))
    finally:
        learner._open.clear()


def test_the_compare_race_settings_are_in_its_url():
    at = AppTest.from_file(str(ROOT / "app_pages" / "compare.py"), default_timeout=300)
    at.query_params.update({"methods": "lora,ia3,nonsense", "same": "1"})
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="compare_methods").value == ["lora", "ia3"]
    assert at.toggle(key="compare_same_settings").value is True
    at.toggle(key="compare_same_settings").set_value(False).run()
    query = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert query == {"methods": "lora,ia3", "same": "0"}


def _method_quiz_app():
    from ui.quiz_widgets import render_method_quiz

    render_method_quiz("dora")


def test_a_method_pages_quiz_comes_back_with_its_graded_answers(app_store):
    """The 3 questions at the end of a method page and the answers graded there are kept: a new
    session with the learner's code shows the same questions, the answer locked and graded again
    (right stays right, wrong stays wrong, from the kept response)."""
    at = AppTest.from_function(_method_quiz_app, default_timeout=120).run()
    assert not at.exception, at.exception
    run = at.session_state["quiz_method_runs"]["dora"]
    quiz = run["quiz"]
    code = at.query_params["learner"]
    code = code[-1] if isinstance(code, list) else code
    _answer_right(at, quiz.questions[0], f"dora_mq{quiz.seed}_0")
    assert not at.exception, at.exception
    assert at.session_state["quiz_method_runs"]["dora"]["graded"][0].correct

    again = AppTest.from_function(_method_quiz_app, default_timeout=120)  # a refresh, another day
    again.query_params["learner"] = code
    again.run()
    assert not again.exception, again.exception
    back = again.session_state["quiz_method_runs"]["dora"]
    assert [q.id for q in back["quiz"].questions] == [q.id for q in quiz.questions]
    assert set(back["graded"]) == {0} and back["graded"][0].correct
    assert "Correct" in " ".join(s.value for s in again.success)  # its feedback is drawn again
    assert again.button(key=f"dora_mq{quiz.seed}_1_check")  # the others still open

    _button(again, "New questions").click().run()  # a new draw replaces the kept one
    third = AppTest.from_function(_method_quiz_app, default_timeout=120)
    third.query_params["learner"] = code
    third.run()
    assert third.session_state["quiz_method_runs"]["dora"]["graded"] == {}
    assert third.session_state["quiz_method_runs"]["dora"]["quiz"].seed != quiz.seed
