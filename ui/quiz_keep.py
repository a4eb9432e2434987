"""The quiz in progress, kept for the learner: topics, length, seed, position, answers.

A quiz is rebuilt from its seed (``sample_quiz`` is deterministic), its answers are graded
again from the stored responses, and their widgets show them again. A quiz whose questions
changed since (a new bank) is dropped rather than graded against other questions.
The topics and the length are also in the page's URL (``load_url``/``save_url``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from peft_edu.quiz import default_bank, grade, sample_quiz
from ui import url_state

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only when a learner's work is read or written
    from peft_edu.store import Store

KEY = "quiz"  # the kept document's key
state = st.session_state


def widget_keys(q, prefix: str, response) -> dict:
    """The answer widgets' session-state values that show ``response`` again."""
    if q.kind == "single":
        return {f"{prefix}_single": response}
    if q.kind == "multi":
        return {f"{prefix}_opt{j}": j in response for j in range(len(q.options))}
    return {f"{prefix}_numeric": str(response)}


def doc() -> dict:
    quiz = state["quiz_current"]
    running = None if quiz is None else {
        "seed": quiz.seed, "topics": list(quiz.topics), "ids": [q.id for q in quiz.questions],
        "position": state["quiz_position"], "finished": state["quiz_finished"],
        "responses": {str(i): r for i, r in state["quiz_responses"].items()}}
    return {"topics": list(state["quiz_topics"]), "length": state["quiz_length"], "running": running}


def save(store: Store, learner_id: str) -> None:
    store.keep(learner_id, KEY, doc())


def restore(store: Store, learner_id: str) -> None:
    """Put the kept quiz (settings, and the quiz in progress) into the session state."""
    kept = store.kept(learner_id, KEY)
    if not kept:
        return
    bank = default_bank()
    state["quiz_topics"] = [t for t in kept.get("topics", []) if t in bank.topics]
    state["quiz_length"] = kept.get("length", state["quiz_length"])
    state["quiz_topics_w"], state["quiz_length_w"] = state["quiz_topics"], state["quiz_length"]
    running = kept.get("running")
    if not running:
        return
    try:
        quiz = sample_quiz(bank, running["topics"], n=len(running["ids"]), seed=running["seed"])
    except ValueError:
        return
    if [q.id for q in quiz.questions] != running["ids"]:
        return  # the bank changed since: these answers belong to other questions
    responses = {int(i): r for i, r in running["responses"].items()}
    state["quiz_current"], state["quiz_position"] = quiz, running["position"]
    state["quiz_finished"], state["quiz_responses"] = running["finished"], responses
    state["quiz_graded"] = {i: grade(quiz.questions[i], r["response"], tries=r["tries"])
                            for i, r in responses.items()}
    for i, r in responses.items():
        state.update(widget_keys(quiz.questions[i], f"quiz_{quiz.seed}_{i}", r["response"]))


# --- the quiz's settings in its URL (?topics=lora,qlora&n=5): a teacher's link sets them up ---
def load_url(lengths: tuple[int, ...]) -> None:
    """Topics and length from a URL the page did not write itself (before the widgets render)."""
    query = url_state.page_query()
    if not query or query == state.get("quiz_last_query"):
        return
    bank = default_bank()
    if "topics" in query:
        state["quiz_topics"] = [t for t in str(query["topics"]).split(",") if t in bank.topics]
        state["quiz_topics_w"] = state["quiz_topics"]
    n = str(query.get("n", ""))
    if n.isdigit() and int(n) in lengths:
        state["quiz_length"] = state["quiz_length_w"] = int(n)


def save_url() -> None:
    """The chosen topics and length into the URL (after the widgets render)."""
    query = {"n": str(state["quiz_length"])}
    if state["quiz_topics"]:
        query["topics"] = ",".join(state["quiz_topics"])
    url_state.write_query(query)
    state["quiz_last_query"] = query
