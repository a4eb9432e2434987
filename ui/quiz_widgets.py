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

from ui import learner, nav
from ui.links import link
from ui.state import init_state
from peft_edu import METHODS
from peft_edu.quiz import (Graded, Question, default_bank, grade, numeric_problem, option_feedback,
                           option_order, record_progress, retry_allowed, sample_quiz)

METHOD_QUIZ_LENGTH = 3
DIFFICULTY_BADGE = {"easy": "green", "medium": "orange", "hard": "red"}
KIND_HINT = {
    "single": "Choose one answer.",
    "multi": "Select all that apply. Counted as correct only if you tick exactly the right ones.",
    "numeric": "Type a number; units and notations such as 1,120 GB, 1.12 TB, 1.12e3, 16k or 3.5M "
               "are fine. A wrong number may be corrected once.",
}


def learn_more(name: str, here: str = "") -> None:
    """A link to the page that teaches ``name`` (a method key, a tool page or "home"); on
    that page itself (``here``) a pointer to the lesson above instead of a link to itself."""
    if name == here:
        st.caption(":material/school: This page teaches it: see the lesson above.")
        return
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
    refusal = numeric_problem(q, response)
    if refusal:  # unreadable, or a unit of the wrong kind: not graded, the learner rewrites it
        st.session_state["quiz_notice"][prefix] = f"Not graded: {refusal}."
        return
    st.session_state["quiz_notice"].pop(prefix, None)
    slips = st.session_state["quiz_slips"]
    graded = grade(q, response, tries=2 if prefix in slips else 1)
    if retry_allowed(graded):  # a numeric slip: one more try before the answer locks
        slips[prefix] = graded.given
        st.session_state["quiz_notice"][prefix] = (
            f"Not quite: {graded.given} is not the answer. Check the arithmetic and the unit, "
            "then try once more.")
        return
    learner.record_answer(graded, "quiz" if prefix.startswith("quiz_") else f"method:{q.topic}")  # kept first
    store(graded)
    st.session_state["quiz_progress"] = record_progress(st.session_state["quiz_progress"], graded)


def shown_order(q: Question, prefix: str) -> tuple[int, ...]:
    """This attempt's option order (bank indices), drawn once per widget prefix and kept in
    the session state, so a rerun does not reshuffle; the prefix holds the attempt's seed."""
    return st.session_state["quiz_orders"].setdefault(prefix, option_order(q, prefix))


def _answer_widget(q: Question, prefix: str, locked: bool) -> None:
    if q.kind == "single":  # the values are the bank's indices: grading never sees the shuffle
        st.radio("Your answer", shown_order(q, prefix), format_func=lambda j: q.options[j],
                 index=None, key=f"{prefix}_single", disabled=locked)
    elif q.kind == "multi":
        for j in shown_order(q, prefix):
            st.checkbox(q.options[j], key=f"{prefix}_opt{j}", disabled=locked)
    else:
        unit = f" ({q.unit})" if q.unit else ""
        st.text_input(f"Your answer{unit}", key=f"{prefix}_numeric", disabled=locked,
                      placeholder="e.g. 12,345")


def option_marks(g: Graded, order) -> str:
    """Multiple select: each option marked ✓ (a correct option) or ✗ (a wrong one), with what
    the learner did with it, in the order the options were shown."""
    marks = {i: (right, ticked) for i, right, ticked in option_feedback(g)}
    lines = []
    for i in order:
        right, ticked = marks[i]
        verdict = ("you ticked it" if ticked else "you missed it") if right else \
            ("you ticked it, wrongly" if ticked else "rightly left unticked")
        lines.append(f"- {':green[✓]' if right else ':red[✗]'} {g.question.options[i]} — *{verdict}*")
    return "\n".join(lines)


def show_feedback(g: Graded, order=(), here: str = "") -> None:
    """Right or wrong, the correct answer, the explanation and where to read more."""
    tries = " (on the second try)" if g.tries > 1 else ""
    if g.question.kind == "multi":
        st.markdown(option_marks(g, order or range(len(g.question.options))))
    if g.correct:
        st.success(f"**Correct{tries}.** {g.question.explanation}", icon=":material/check_circle:")
        return
    given = f"You answered{tries}: {g.given}. " if g.given else ""
    note = f" ({g.note})" if g.note else ""
    st.error(f"**Not quite.**{note} {given}The answer is: **{g.expected}**", icon=":material/cancel:")
    st.info(g.question.explanation, icon=":material/lightbulb:")
    learn_more(g.question.page, here)


def render_question(q: Question, prefix: str, graded: Graded | None,
                    store: Callable[[Graded], None], heading: str = "", here: str = "") -> None:
    """One question: prompt, answer widget, Check button; feedback once it is graded.
    ``here`` names the page it is drawn on, so "learn more" never links to that page."""
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
        show_feedback(graded, shown_order(q, prefix) if q.kind != "numeric" else (), here)


# --- the short quiz at the end of a method page ------------------------------------------
def _kept_key(key: str) -> str:
    return f"method_quiz:{key}"  # the learner's kept document of this method's quiz


def _keep_method_quiz(key: str) -> None:
    """Keep the method quiz (its seed, questions and graded answers) for the learner, so a
    refresh or the learner's link on another day shows it again."""
    run = st.session_state["quiz_method_runs"][key]
    doc = {"seed": run["quiz"].seed, "ids": [q.id for q in run["quiz"].questions],
           "responses": {str(i): r for i, r in run["responses"].items()}}
    learner.store().keep(learner.learner_id(), _kept_key(key), doc)


def _restore_method_quiz(key: str) -> bool:
    """The learner's kept quiz of this method, regraded from its responses; False if none (or
    the bank changed since, so the kept answers belong to other questions)."""
    from ui.quiz_keep import widget_keys

    kept = learner.store().kept(learner.learner_id(), _kept_key(key))
    if not kept:
        return False
    try:
        quiz = sample_quiz(default_bank(), [key], n=len(kept["ids"]), seed=kept["seed"])
    except (ValueError, KeyError):
        return False
    if [q.id for q in quiz.questions] != kept["ids"]:
        return False
    responses = {int(i): r for i, r in kept.get("responses", {}).items()}
    graded = {i: grade(quiz.questions[i], r["response"], tries=r["tries"]) for i, r in responses.items()}
    st.session_state["quiz_method_runs"][key] = {"quiz": quiz, "graded": graded, "responses": responses}
    for i, r in responses.items():
        st.session_state.update(widget_keys(quiz.questions[i], f"{key}_mq{quiz.seed}_{i}", r["response"]))
    return True


def _new_method_quiz(key: str) -> None:
    quiz = sample_quiz(default_bank(), [key], n=METHOD_QUIZ_LENGTH)
    st.session_state["quiz_method_runs"][key] = {"quiz": quiz, "graded": {}, "responses": {}}
    _keep_method_quiz(key)


@st.fragment
def render_method_quiz(key: str) -> None:
    """Three questions on one method, with immediate feedback; reruns only itself."""
    init_state()
    if key not in METHODS:
        st.error(f"No quiz for unknown method {key!r}; choose one of: {', '.join(METHODS)}")
        return
    runs = st.session_state["quiz_method_runs"]
    if key not in runs and not _restore_method_quiz(key):
        _new_method_quiz(key)
    run = runs[key]
    quiz, graded = run["quiz"], run["graded"]
    with st.container(border=True):
        st.subheader(f"Check yourself: {METHODS[key].name}", anchor="quiz")
        for i, q in enumerate(quiz.questions):
            def store(g: Graded, i: int = i, q: Question = q) -> None:
                graded[i] = g
                response = read_response(q, f"{key}_mq{quiz.seed}_{i}")
                run["responses"][i] = {"response": response, "tries": g.tries}
                _keep_method_quiz(key)  # kept: a refresh shows the graded answers again
                st.session_state["quiz_sidebar_stale"] = True  # progress changed
            with st.container(border=True):
                render_question(q, f"{key}_mq{quiz.seed}_{i}", graded.get(i), store,
                                heading=f"**{i + 1}/{len(quiz.questions)}** ", here=key)
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
    """Per-topic quiz score of this learner (kept across sessions), drawn into the sidebar."""
    init_state()
    learner.current()  # the kept progress is in the session state
    progress = st.session_state["quiz_progress"]
    bar = st.sidebar
    bar.markdown("**Quiz progress**")
    if not progress:
        bar.caption("No questions answered yet.")
        return
    topics = default_bank().topics
    answered = sum(a for a, _ in progress.values())
    right = sum(c for _, c in progress.values())
    bar.caption(f"{right} of {answered} correct so far")
    for topic in topics:
        if topic in progress:
            a, c = progress[topic]
            bar.progress(c / a, text=f"{topics[topic]}: {c}/{a}")
