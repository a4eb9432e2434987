"""Which learners have a browser tab open, from Streamlit's runtime, for the lab's clean-up.

A tab is open while its websocket is connected: its session is one of the runtime's active
sessions, whichever page it shows and however long the learner reads it. Streamlit's internals
(``Runtime._session_mgr``, another session's state) stay in ``open_learners``; when they cannot
be read (no runtime: AppTest, a bare script run; a Streamlit that changed them) it says None,
"cannot tell", and ``peft_edu.lab.absence`` stops nothing.
"""
from __future__ import annotations

import logging

from peft_edu.lab import absence

log = logging.getLogger(__name__)
EVERY_S = 5.0  # seconds between checks
_SAID = set()  # problems logged already (the check runs every few seconds: say each once)


def open_learners() -> set[str] | None:
    """Ids of the learners with at least one connected session; None when it cannot tell."""
    try:
        from streamlit import runtime

        if not runtime.exists():
            return None
        sessions = runtime.get_instance()._session_mgr.list_active_sessions()
        ids = set()
        for info in sessions:
            mine = _learner_of(info.session.session_state)
            if mine is not None:
                ids.add(mine)
        return ids
    except Exception as err:  # noqa: BLE001 - unknown internals: say "cannot tell", stop nothing
        problem = f"{type(err).__name__}: {err}"
        if problem not in _SAID:
            _SAID.add(problem)
            log.warning("cannot list the open sessions (runs of learners who left go on): %s", problem)
        return None


def _learner_of(session_state) -> str | None:
    """The learner id a session's state holds (``ui.learner``), None before its first page run."""
    try:
        learner = session_state["learner"]
    except KeyError:
        return None
    return getattr(learner, "id", None)


def watch() -> None:
    """Start (once per process) the check that ends the runs of learners who left."""
    absence.watch_learners(open_learners, EVERY_S)
