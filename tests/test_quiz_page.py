"""AppTest of the Quiz page (a full run: topics, answers, score, review, retake) and of the
method-page quiz widget and the sidebar progress."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TOPICS = ["lora", "qlora", "multi_gpu"]


def _answer(at: AppTest, q, prefix: str, right: bool) -> None:
    """Give the right answer, or a wrong one, through the question's widgets."""
    if q.kind == "single":
        wrong = next(j for j in range(len(q.options)) if j not in q.correct)
        at.radio(key=f"{prefix}_single").set_value(min(q.correct) if right else wrong)
    elif q.kind == "multi":
        ticks = q.correct if right else set(range(len(q.options))) - q.correct
        for j in ticks:
            at.checkbox(key=f"{prefix}_opt{j}").check()
    else:
        value = q.answer if right else q.answer * 3 + 1
        at.text_input(key=f"{prefix}_numeric").input(f"{value:,}")
    at.run()
    at.button(key=f"{prefix}_check").click().run()
    if q.kind == "numeric" and not right:  # a numeric slip: one more try, then it locks
        assert any("try once more" in w.value for w in at.warning), [w.value for w in at.warning]
        at.text_input(key=f"{prefix}_numeric").input(f"{q.answer * 5 + 2:,}").run()
        at.button(key=f"{prefix}_check").click().run()


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_full_quiz_run():
    at = AppTest.from_file(str(ROOT / "app_pages" / "quiz.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    at.multiselect(key="quiz_topics_w").set_value(TOPICS)
    at.select_slider(key="quiz_length_w").set_value(5)
    _button(at, "Start quiz").click().run()
    quiz = at.session_state["quiz_current"]
    assert len(quiz.questions) == 5 and {q.topic for q in quiz.questions} <= set(TOPICS)

    pattern = [True, False, True, True, False]
    for i, (q, right) in enumerate(zip(quiz.questions, pattern)):
        prefix = f"quiz_{quiz.seed}_{i}"
        _answer(at, q, prefix, right)
        assert not at.exception, at.exception
        # immediate feedback with the explanation
        shown = " ".join(e.value for e in (*at.success, *at.error, *at.info))
        assert ("Correct." if right else "Not quite.") in shown
        assert q.explanation.split()[0] in shown
        _button(at, "Next question" if i < 4 else "See my score").click().run()

    assert not at.exception, at.exception
    assert at.header[0].value == "Your score: 3 / 5"
    # one bar per topic: "<topic>: c of a correct", summing to 3 of 5
    import re
    bars = [p.proto.text for p in at.get("progress")]
    per_topic = [tuple(map(int, m.groups())) for t in bars if (m := re.search(r"(\d+) of (\d+) correct", t))]
    assert sum(a for _, a in per_topic) == 5 and sum(c for c, _ in per_topic) == 3, bars
    # the review lists exactly the two wrong answers, each with its explanation
    review = " ".join(m.value for m in at.markdown)
    wrong = [q for q, right in zip(quiz.questions, pattern) if not right]
    for q in wrong:
        assert q.prompt in review
    captions = " ".join(c.value for c in at.caption)
    assert all(q.explanation[:40] in captions for q in wrong)
    assert len(at.get("download_button")) == 2
    # the session progress counts every answer
    progress = at.session_state["quiz_progress"]
    assert sum(a for a, _ in progress.values()) == 5 and sum(c for _, c in progress.values()) == 3

    _button(at, "Retake with new questions").click().run()
    retake = at.session_state["quiz_current"]
    assert retake.seed != quiz.seed and len(retake.questions) == 5
    assert [q.id for q in retake.questions] != [q.id for q in quiz.questions] or any(
        a.options != b.options for a, b in zip(retake.questions, quiz.questions))
    assert "Question 1 of 5" in at.get("progress")[0].proto.text


def test_check_without_answer_warns_and_does_not_grade():
    at = AppTest.from_file(str(ROOT / "app_pages" / "quiz.py"), default_timeout=60).run()
    _button(at, "Start quiz").click().run()
    quiz = at.session_state["quiz_current"]
    at.button(key=f"quiz_{quiz.seed}_0_check").click().run()
    assert not at.exception, at.exception
    assert at.warning and "first" in at.warning[0].value
    assert at.session_state["quiz_graded"] == {}


def _method_quiz_app(keys: tuple[str, ...]) -> None:
    from ui.quiz_widgets import render_method_quiz, render_quiz_progress_sidebar

    for key in keys:
        render_method_quiz(key)
    render_quiz_progress_sidebar()


def test_method_quiz_widget():
    at = AppTest.from_function(_method_quiz_app, args=(("dora", "lora"),), default_timeout=60).run()
    assert not at.exception, at.exception  # two quizzes on one page: no widget-key clash
    assert "No questions answered yet." in [c.value for c in at.sidebar.caption]
    run = at.session_state["quiz_method_runs"]["dora"]
    quiz = run["quiz"]
    assert len(quiz.questions) == 3 and all(q.topic == "dora" for q in quiz.questions)
    for i, q in enumerate(quiz.questions):
        _answer(at, q, f"dora_mq{quiz.seed}_{i}", right=i != 1)
        assert not at.exception, at.exception
    assert any(m.value == "**You got 2 of 3 right.**" for m in at.markdown)
    assert at.session_state["quiz_progress"] == {"dora": [3, 2]}
    at.run()  # a full rerun redraws the sidebar (the quiz itself is a fragment)
    assert any("DoRA: 2/3" in p.proto.text for p in at.sidebar.get("progress"))
    # new questions: a fresh draw, nothing graded yet
    next(b for b in at.button if b.key == "dora_mq_new").click().run()
    assert at.session_state["quiz_method_runs"]["dora"]["graded"] == {}
    assert at.session_state["quiz_method_runs"]["dora"]["quiz"].seed != quiz.seed


def test_method_quiz_unknown_key_is_a_clear_error():
    at = AppTest.from_function(_method_quiz_app, args=(("lorra",),), default_timeout=60).run()
    assert not at.exception
    assert "choose one of: full, lora" in at.error[0].value


# --- issue 17: shuffled options, numeric units and slips, per-option marks, no self-links ----
def _one_question_app(qid: str, here: str) -> None:
    import streamlit as st

    from peft_edu.quiz import default_bank
    from ui.quiz_widgets import render_question
    from ui.state import init_state

    init_state()
    q = next(q for q in default_bank().questions if q.id == qid)

    def store(g) -> None:
        st.session_state["one_graded"] = g

    render_question(q, "one_7", st.session_state.get("one_graded"), store, here=here)


def _one(qid: str, here: str = "") -> AppTest:
    at = AppTest.from_function(_one_question_app, args=(qid, here), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _bank_question(qid: str):
    from peft_edu.quiz import default_bank
    return next(q for q in default_bank().questions if q.id == qid)


def test_options_are_shuffled_once_per_attempt_and_graded_by_bank_index():
    from peft_edu.quiz import option_order

    q = _bank_question("lora-b-zero")
    at = _one(q.id)
    shown = list(at.radio(key="one_7_single").options)
    assert shown == [q.options[j] for j in option_order(q, "one_7")]
    assert at.session_state["quiz_orders"]["one_7"] == option_order(q, "one_7")
    at.run()
    assert list(at.radio(key="one_7_single").options) == shown  # a rerun does not reshuffle
    at.radio(key="one_7_single").set_value(min(q.correct)).run()
    at.button(key="one_7_check").click().run()
    assert at.session_state["one_graded"].correct
    assert any("Correct." in s.value for s in at.success)


def test_numeric_answer_with_units_unreadable_refused_and_one_slip():
    q = _bank_question("mem-16bit-weights")  # 26 GB
    at = _one(q.id)
    box = at.text_input(key="one_7_numeric")
    box.input("twenty-six").run()
    at.button(key="one_7_check").click().run()
    assert "one_graded" not in at.session_state and any("Not graded" in w.value for w in at.warning)
    at.text_input(key="one_7_numeric").input("26 parameters").run()
    at.button(key="one_7_check").click().run()
    assert "one_graded" not in at.session_state and any("asks for GB" in w.value for w in at.warning)
    at.text_input(key="one_7_numeric").input("2.6 GB").run()  # a slip: wrong, but readable
    at.button(key="one_7_check").click().run()
    assert "one_graded" not in at.session_state and any("try once more" in w.value for w in at.warning)
    at.text_input(key="one_7_numeric").input("0.026 TB").run()
    at.button(key="one_7_check").click().run()
    graded = at.session_state["one_graded"]
    assert graded.correct and graded.tries == 2
    assert any("Correct (on the second try)." in s.value for s in at.success)


def test_multi_select_feedback_marks_every_option():
    q = _bank_question("decide-signs")
    at = _one(q.id)
    at.checkbox(key=f"one_7_opt{min(q.correct)}").check().run()  # one of two right ones only
    at.button(key="one_7_check").click().run()
    marks = next(m.value for m in at.markdown if "✓" in m.value)
    for text in q.options:
        assert text in marks
    assert marks.count("✓") == len(q.correct) and marks.count("✗") == len(q.options) - len(q.correct)
    assert "you missed it" in marks and "you ticked it" in marks


def test_learn_more_never_links_to_the_page_it_is_on():
    q = _bank_question("lora-b-zero")
    wrong = next(j for j in range(len(q.options)) if j not in q.correct)
    for here, linked in (("lora", False), ("quiz", True)):
        at = _one(q.id, here)
        at.radio(key="one_7_single").set_value(wrong).run()
        at.button(key="one_7_check").click().run()
        links = [e.proto.label for e in at.get("page_link")] + [c.value for c in at.caption]
        assert any("Learn more: LoRA" in t for t in links) is linked, links
        assert any("This page teaches it" in t for t in links) is not linked


def test_method_page_quiz_never_links_to_its_own_page():
    at = AppTest.from_function(_method_quiz_app, args=(("dora",),), default_timeout=60).run()
    quiz = at.session_state["quiz_method_runs"]["dora"]["quiz"]
    for i, q in enumerate(quiz.questions):
        _answer(at, q, f"dora_mq{quiz.seed}_{i}", right=False)
        assert not at.exception, at.exception
    labels = [e.proto.label for e in at.get("page_link")] + [c.value for c in at.caption]
    assert not any("Learn more: DoRA" in t for t in labels), labels
    assert any("This page teaches it" in t for t in labels)
