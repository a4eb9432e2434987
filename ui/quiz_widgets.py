"""Quiz building blocks shared by the Quiz page and the method pages (UI only).

- ``render_question``: one question with its answer widget, a Check button, and after
  checking the feedback, the explanation and a link to the page that teaches it.
- ``render_method_quiz(key)``: a short 3-question quiz on one method, for the end of a
  method page. Every widget key starts with the method key, so it never collides. It is a
  fragment (an answer reruns only the quiz); a graded answer then reruns the whole page
  once, so the sidebar's progress is current.
- ``render_quiz_progress_sidebar()``: this session's score per topic, in the sidebar.

Questions, grading and scores all come from ``peft_edu.quiz``.
"""
from __future__ import annotations

import streamlit as st

from ui import nav
from ui.links import link
from ui.state import init_state
from peft_edu import METHODS
from peft_edu.quiz import Graded, Question, default_bank, grade, record_progress, sample_quiz

METHOD_QUIZ_LENGTH = 3
DIFFICULTY_BADGE = {"easy": "green", "medium": "orange", "hard": "red"}
KIND_HINT = {
    "single": "Choose one answer.",
    "multi": "Select all that apply. Counted as correct only if you tick exactly the right ones.",
    "numeric": "Type a number; thousands separators (12,345) are fine.",
}


def learn_more(name: str) -> None:
    """A link to the page that teaches ``name`` (a method key, a tool page or "home")."""
    link(name, f"Learn more: {nav.title(name)}", ":material/school:")


# --- one question ----------------------------------------------------------------------
def read_response(q: Question, prefix: str):
    """The learner's current answer from the widget keys under ``prefix``."""
    state = st.session_state
    if q.kind == "single":
        return state.get(f"{prefix}_single")
    if q.kind == "multi":
        return [j for j in range(len(q.options)) if state.get(f"{prefix}_opt{j}")]
    return state.get(f"{prefix}_numeric", "")


def _missing(q: Question, response) -> str:
    if q.kind == "single" and response is None:
        return "Choose an answer first."
    if q.kind == "multi" and not response:
        return "Tick at least one option first."
    if q.kind == "numeric" and not str(response).strip():
        return "Type a number first (press Enter to confirm it)."
    return ""


def check_answer(q: Question, prefix: str, store: Callable[[Graded], None]) -> None:
    """Button callback: grade the answer, hand it to ``store`` and count it in the progress."""
    response = read_response(q, prefix)
    notice = _missing(q, response)
    if notice:
        st.session_state["quiz_notice"][prefix] = notice
        return
    st.session_state["quiz_notice"].pop(prefix, None)
    graded = grade(q, response)
    store(graded)
    st.session_state["quiz_progress"] = record_progress(st.session_state["quiz_progress"], graded)


def _answer_widget(q: Question, prefix: str, locked: bool) -> None:
    if q.kind == "single":
        st.radio("Your answer", range(len(q.options)), format_func=lambda j: q.options[j],
                 index=None, key=f"{prefix}_single", disabled=locked)
    elif q.kind == "multi":
        for j, text in enumerate(q.options):
            st.checkbox(text, key=f"{prefix}_opt{j}", disabled=locked)
    else:
        unit = f" ({q.unit})" if q.unit else ""
        st.text_input(f"Your answer{unit}", key=f"{prefix}_numeric", disabled=locked,
                      placeholder="e.g. 12,345")


def show_feedback(g: Graded) -> None:
    """Right or wrong, the correct answer, the explanation and where to read more."""
    if g.correct:
        st.success(f"**Correct.** {g.question.explanation}", icon=":material/check_circle:")
        return
    given = f"You answered: {g.given}. " if g.given else ""
    note = f" ({g.note})" if g.note else ""
    st.error(f"**Not quite.**{note} {given}The answer is: **{g.expected}**", icon=":material/cancel:")
    st.info(g.question.explanation, icon=":material/lightbulb:")
    learn_more(g.question.page)


def render_question(q: Question, prefix: str, graded: Graded | None,
                    store: Callable[[Graded], None], heading: str = "") -> None:
    """One question: prompt, answer widget, Check button; feedback once it is graded."""
    title = default_bank().topics[q.topic]
    st.markdown(f"{heading}:{DIFFICULTY_BADGE[q.difficulty]}-badge[{q.difficulty}] "
                f":gray-badge[{title}]")
    st.markdown(f"##### {q.prompt}")
    st.caption(KIND_HINT[q.kind])
    _answer_widget(q, prefix, locked=graded is not None)
    if graded is None:
        st.button("Check answer", key=f"{prefix}_check", type="primary", icon=":material/done:",
                  on_click=check_answer, args=(q, prefix, store))
        notice = st.session_state["quiz_notice"].get(prefix)
        if notice:
            st.warning(notice, icon=":material/info:")
    else:
        show_feedback(graded)


# --- the short quiz at the end of a method page ------------------------------------------
def _new_method_quiz(key: str) -> None:
    quiz = sample_quiz(default_bank(), [key], n=METHOD_QUIZ_LENGTH)
    st.session_state["quiz_method_runs"][key] = {"quiz": quiz, "graded": {}}


@st.fragment
def render_method_quiz(key: str) -> None:
    """Three questions on one method, with immediate feedback; reruns only itself."""
    init_state()
    if key not in METHODS:
        st.error(f"No quiz for unknown method {key!r}; choose one of: {', '.join(METHODS)}")
        return
    runs = st.session_state["quiz_method_runs"]
    if key not in runs:
        _new_method_quiz(key)
    run = runs[key]
    quiz, graded = run["quiz"], run["graded"]
    with st.container(border=True):
        st.subheader(f"Check yourself: {METHODS[key].name}", anchor=f"{key}-quiz")
        for i, q in enumerate(quiz.questions):
            def store(g: Graded, i: int = i) -> None:
                graded[i] = g
                st.session_state["quiz_sidebar_stale"] = True  # progress changed
            with st.container(border=True):
                render_question(q, f"{key}_mq{quiz.seed}_{i}", graded.get(i), store,
                                heading=f"**{i + 1}/{len(quiz.questions)}** ")
        if len(graded) == len(quiz.questions):
            right = sum(g.correct for g in graded.values())
            st.markdown(f"**You got {right} of {len(graded)} right.**")
        cols = st.columns(2)
        cols[0].button("New questions", key=f"{key}_mq_new", icon=":material/refresh:",
                       on_click=_new_method_quiz, args=(key,))
        with cols[1]:
            link("quiz", "Take the full quiz", ":material/quiz:")
    if st.session_state.pop("quiz_sidebar_stale", False):
        # a fragment run cannot redraw the sidebar: one full rerun shows the new progress
        st.rerun(scope="app")


# --- the sidebar ---------------------------------------------------------------------------
def render_quiz_progress_sidebar() -> None:
    """Per-topic quiz score of this session, drawn into the sidebar."""
    init_state()
    progress = st.session_state["quiz_progress"]
    bar = st.sidebar
    bar.markdown("**Quiz progress**")
    if not progress:
        bar.caption("No questions answered yet.")
        return
    topics = default_bank().topics
    answered = sum(a for a, _ in progress.values())
    right = sum(c for _, c in progress.values())
    bar.caption(f"{right} of {answered} correct this session")
    for topic in topics:
        if topic in progress:
            a, c = progress[topic]
            bar.progress(c / a, text=f"{topics[topic]}: {c}/{a}")
