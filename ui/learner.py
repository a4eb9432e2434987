"""The learner behind a session: a short secret code in the URL (``?learner=...``), no account.

On a first visit the app makes a new learner and puts its code in the URL; a URL with a known
code (a refresh, the resume link in another browser) brings that learner's work back: quiz
progress, the quiz in progress, lab runs. The sidebar offers the resume link, an optional
display name and "Delete my data". The store itself is ``peft_edu.store`` (UI only here).

A new visitor's first page does not wait for the store: the sidebar, drawn before the page,
makes the learner in memory (``peft_edu.store.codes``, no SQLAlchemy) and it is written when
something needs the store (``learner_id()``), or else by a thread once the page run is over
(home, say: its run never waits for SQLAlchemy or the database); until then it is "pending"
(``_PENDING``), known to every session of this process. A code in the URL opens the store at
once: its work is back on the first page.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import streamlit as st

from peft_edu.store.codes import Learner, make_learner
from ui.state import DEFAULTS, init_state

if TYPE_CHECKING:
    from peft_edu.store import Store

QUERY_KEY = "learner"  # the URL parameter that carries the code
TOUCH_S = 60  # at most one "last seen" write per minute and session
WRITE_AFTER_RUN_S = 30  # a pending learner is written once its page run ends, or after this long
state = st.session_state


def _open_store() -> tuple[Store, str]:
    """The process's store, opened (and migrated); runs left live by a previous server process
    become "interrupted", runs older than PEFT_LAB_KEEP_DAYS (default 30) go, and so do
    learners not seen for that long, with everything they kept."""
    from peft_edu.store import StoreError, open_store, runs  # SQLAlchemy: 0.2-0.7 s of imports

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


class _Once:
    """``_open()``: the store, opened once per process by whichever thread asks first (a page
    run, or the thread that writes pending learners); ``clear()`` forgets it (tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[Store, str] | None = None

    def __call__(self) -> tuple[Store, str]:
        with self._lock:
            if self._value is None:
                self._value = _open_store()
            return self._value

    def ready(self) -> bool:
        return self._value is not None

    def clear(self) -> None:
        with self._lock:
            self._value = None


_open = _Once()
_PENDING: dict[str, tuple[Learner, str]] = {}  # learner id -> (learner, code): made, not yet written
_PENDING_LOCK = threading.Lock()  # guards _PENDING itself (held only for a moment)
_WRITING = threading.Lock()  # one writer of pending learners at a time (it may open the store first)


def store() -> Store:
    return _open()[0]


def _write_pending(learner_id: str | None = None) -> None:
    """Write one pending learner (or all of them) into the store. A learner stays in
    ``_PENDING`` until its row is committed, so no session takes it for deleted meanwhile."""
    with _WRITING:
        with _PENDING_LOCK:
            if learner_id is None:
                todo = list(_PENDING.values())
            else:
                todo = [_PENDING[learner_id]] if learner_id in _PENDING else []
        if not todo:
            return
        kept = store()
        for learner, code in todo:
            kept.add_learner(learner, code)
            with _PENDING_LOCK:
                _PENDING.pop(learner.id, None)


def _pending(learner_id: str) -> bool:
    with _PENDING_LOCK:
        return learner_id in _PENDING


def _write_after_run() -> None:
    """Write the pending learners once this page run is over (the script thread ends when its
    session goes idle), so a new visitor's code keeps working even if no page needed the store."""
    run = threading.current_thread()

    def wait_then_write() -> None:
        if run is not threading.main_thread():
            run.join(WRITE_AFTER_RUN_S)
        _write_pending()

    threading.Thread(target=wait_then_write, name="peft-lab-new-learner", daemon=True).start()


def _new_learner(pending: bool) -> tuple[Learner, str]:
    """A new learner: written now, or (``pending``) by ``learner_id()`` or after this run."""
    learner, code = make_learner()
    with _PENDING_LOCK:
        _PENDING[learner.id] = (learner, code)
    if pending:
        _write_after_run()
    else:
        _write_pending(learner.id)
    return learner, code


def _url_code() -> str:
    return (st.query_params.get(QUERY_KEY) or "").strip().lower()


def current(pending: bool = False) -> Learner:
    """This session's learner (found from the URL's code, or new); the code stays in the URL.

    A new learner is written at once, or with ``pending`` (the sidebar, before the page runs)
    only later: ``learner_id()`` or the end of the run write it. A learner made
    pending stays so in this session's later ``current()`` calls until it is written."""
    init_state()
    code = _url_code()
    mine = state["learner"]
    if mine is None or (code and code != state["learner_code"]):
        found = _find(code) if code else None
        if code and found is None:
            state["learner_notice"] = ("The resume code in this link is unknown (mistyped, or its data was "
                                       "deleted), so you start afresh with a new code.")
        if found is None:
            found, code = _new_learner(pending)
            _adopt(found, code, new=True)
        else:
            _adopt(found, code)
        mine = found
    elif _pending(mine.id):  # made by this process a moment ago and not written yet: nobody deleted it
        pass
    elif store().learner(mine.id) is None:  # "Delete my data" in another tab of this learner
        found, code = _new_learner(pending)
        _adopt(found, code, new=True)
        mine = found
        state["learner_notice"] = ("Your data was deleted (in another tab or by your teacher), so this "
                                   "is a new start with a new code.")
    elif time.monotonic() - state["learner_touched"] > TOUCH_S:
        store().touch(mine.id)
        state["learner_touched"] = time.monotonic()
    if _url_code() != state["learner_code"]:
        st.query_params[QUERY_KEY] = state["learner_code"]
    return mine


def _find(code: str) -> Learner | None:
    _write_pending()  # a code made a moment ago (another tab of a new visitor) is found too
    return store().find(code)


def _adopt(learner: Learner, code: str, new: bool = False) -> None:
    """Make ``learner`` this session's, with its kept work loaded into the session state
    (a ``new`` learner has none: the store is not asked)."""
    if state["learner"] is not None:  # another learner's link in this tab: start from a clean state
        for key in DEFAULTS:
            state.pop(key, None)
        init_state()
    state["learner"], state["learner_code"] = learner, code
    state["learner_touched"] = time.monotonic()
    state["learner_name_w"] = learner.name
    if new:
        state["quiz_progress"] = {}
        return
    from ui import quiz_keep  # the quiz bank: only for a learner who may have a quiz kept

    state["quiz_progress"] = store().progress(learner.id)
    quiz_keep.restore(store(), learner.id)


def learner_id() -> str:
    """This session's learner's id, for writing to the store: a pending learner is written first."""
    mine = current()
    _write_pending(mine.id)
    return mine.id


def record_answer(graded, source: str) -> None:
    """Keep one graded answer of this session's learner."""
    q = graded.question
    store().record_answer(learner_id(), q.id, q.topic, graded.correct, graded.given, graded.expected, source)


def resume_link() -> str:
    url = getattr(st.context, "url", None) or ""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return f"{base}/?{QUERY_KEY}={state['learner_code']}"


def _rename() -> None:
    me = learner_id()
    store().rename(me, state["learner_name_w"])
    state["learner"] = store().learner(me)


def _delete() -> None:
    gone = current()
    _write_pending(gone.id)  # so that it is not written after its deletion
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
    """The resume link (drawn once its expander is opened), a display name, and "Delete my data".
    Drawn before the page: a new visitor's learner is made pending, so the first page does not
    wait for the store."""
    learner = current(pending=True)
    problem = _open()[1] if _open.ready() else ""  # a new visitor's first page: said from the next run on
    bar = st.sidebar
    if problem:
        bar.warning(problem, icon=":material/database:")
    if state["learner_notice"]:  # shown once
        bar.info(state["learner_notice"], icon=":material/info:")
        state["learner_notice"] = ""
    box = bar.expander("Your work is kept", icon=":material/bookmark:", key="learner_kept_open", on_change="rerun")
    with box:
        st.caption("Open this link in any browser to come back to your quizzes and lab runs. "
                   "It is your key: keep it to yourself.")
        if box.open:  # only once opened: st.code makes the browser load 1.5 MB of script (slows a cold start)
            st.code(resume_link(), language=None)
        st.text_input("Display name (optional, for your teacher)", key="learner_name_w", max_chars=80,
                      on_change=_rename, placeholder=learner.id[:6])
        sure = st.checkbox("Yes, delete all my answers and runs", key="learner_delete_confirm")
        st.button("Delete my data", key="learner_delete", disabled=not sure, on_click=_delete,
                  icon=":material/delete_forever:")
