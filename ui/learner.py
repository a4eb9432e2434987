"""The learner behind a session: a short secret code in the URL (``?learner=...``), no account.

On a first visit the app makes a new learner and puts its code in the URL; a URL with a known
code (a refresh, the resume link in another browser) brings that learner's work back: quiz
progress, the quiz in progress, lab runs. The sidebar offers the resume link, an optional
display name and "Delete my data". The store itself is ``peft_edu.store`` (UI only here).
"""
from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlsplit

import streamlit as st

from peft_edu.store import Learner, Store, StoreError, open_store, runs
from ui import quiz_keep
from ui.state import DEFAULTS, init_state

QUERY_KEY = "learner"  # the URL parameter that carries the code
TOUCH_S = 60  # at most one "last seen" write per minute and session
state = st.session_state


@st.cache_resource(show_spinner=False)
def _open() -> tuple[Store, str]:
    """The process's store, opened (and migrated) once; runs left live by a previous server
    process become "interrupted", runs older than PEFT_LAB_KEEP_DAYS (default 30) go, and so do
    learners not seen for that long, with everything they kept."""
    try:
        store = open_store()
        notice = store.notice
    except StoreError as err:
        store = open_store("sqlite://")
        notice = f"{err} Work is kept only while this server runs."
    runs.interrupt_live(store)
    raw = os.environ.get("PEFT_LAB_KEEP_DAYS", "").strip()
    days = float(raw) if raw.replace(".", "", 1).isdigit() else 30.0
    runs.cleanup(store, days)
    runs.forget_idle_learners(store, days)  # and their kept uploads and quiz state with them
    return store, notice


def store() -> Store:
    return _open()[0]


def _url_code() -> str:
    return (st.query_params.get(QUERY_KEY) or "").strip().lower()


def current() -> Learner:
    """This session's learner (found from the URL's code, or new); the code stays in the URL."""
    init_state()
    code = _url_code()
    mine = state["learner"]
    if mine is None or (code and code != state["learner_code"]):
        found = store().find(code) if code else None
        if code and found is None:
            state["learner_notice"] = ("The resume code in this link is unknown (mistyped, or its data was "
                                       "deleted), so you start afresh with a new code.")
        if found is None:
            found, code = store().new_learner()
        _adopt(found, code)
        mine = found
    elif store().learner(mine.id) is None:  # "Delete my data" in another tab of this learner
        found, code = store().new_learner()
        _adopt(found, code)
        mine = found
        state["learner_notice"] = ("Your data was deleted (in another tab or by your teacher), so this "
                                   "is a new start with a new code.")
    elif time.monotonic() - state["learner_touched"] > TOUCH_S:
        store().touch(mine.id)
        state["learner_touched"] = time.monotonic()
    if _url_code() != state["learner_code"]:
        st.query_params[QUERY_KEY] = state["learner_code"]
    return mine


def _adopt(learner: Learner, code: str) -> None:
    """Make ``learner`` this session's, with its kept work loaded into the session state."""
    if state["learner"] is not None:  # another learner's link in this tab: start from a clean state
        for key in DEFAULTS:
            state.pop(key, None)
        init_state()
    state["learner"], state["learner_code"] = learner, code
    state["learner_touched"] = time.monotonic()
    state["learner_name_w"] = learner.name
    state["quiz_progress"] = store().progress(learner.id)
    quiz_keep.restore(store(), learner.id)


def learner_id() -> str:
    return current().id


def record_answer(graded, source: str) -> None:
    """Keep one graded answer of this session's learner."""
    q = graded.question
    store().record_answer(current().id, q.id, q.topic, graded.correct, graded.given, graded.expected, source)


def resume_link() -> str:
    url = getattr(st.context, "url", None) or ""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return f"{base}/?{QUERY_KEY}={state['learner_code']}"


def _rename() -> None:
    store().rename(current().id, state["learner_name_w"])
    state["learner"] = store().learner(current().id)


def _delete() -> None:
    gone = current()
    jobs = sys.modules.get("peft_edu.lab.jobs")  # loaded only if the lab ran in this process
    if jobs is not None:
        jobs.stop_owner(gone.id, forget=True)
    lab = sys.modules.get("ui.lab.keep")
    if lab is not None:
        lab.drop(gone.id)
    store().delete_learner(gone.id)
    for key in [*DEFAULTS, "learner_name_w", "learner_delete_confirm"]:
        state.pop(key, None)
    st.query_params.pop(QUERY_KEY, None)
    init_state()
    state["learner_notice"] = "Everything you did here was deleted. This is a new start with a new code."


def render_sidebar() -> None:
    """The resume link, a display name, and "Delete my data"."""
    learner = current()
    _, problem = _open()
    bar = st.sidebar
    if problem:
        bar.warning(problem, icon=":material/database:")
    if state["learner_notice"]:  # shown once
        bar.info(state["learner_notice"], icon=":material/info:")
        state["learner_notice"] = ""
    with bar.expander("Your work is kept", icon=":material/bookmark:"):
        st.caption("Open this link in any browser to come back to your quizzes and lab runs. "
                   "It is your key: keep it to yourself.")
        st.code(resume_link(), language=None)
        st.text_input("Display name (optional, for your teacher)", key="learner_name_w", max_chars=80,
                      on_change=_rename, placeholder=learner.id[:6])
        sure = st.checkbox("Yes, delete all my answers and runs", key="learner_delete_confirm")
        st.button("Delete my data", key="learner_delete", disabled=not sure, on_click=_delete,
                  icon=":material/delete_forever:")
