"""Every session-state key of the app, declared once with its default (DESIGN.md rule 10).

Pages call ``init_state()`` at the top and then read ``st.session_state[KEY]``.
Add a page's keys in its own section below.
"""
from __future__ import annotations

import streamlit as st

DEFAULTS: dict[str, object] = {
    # --- method pages ---------------------------------------------------------------
    # --- calculator -----------------------------------------------------------------
    # --- live lab -------------------------------------------------------------------
    # --- quiz -----------------------------------------------------------------------
    # callables (list, dict) give every session its own fresh container
    "quiz_topics": list,  # topics chosen on the Quiz page (empty = all topics)
    "quiz_length": 10,  # number of questions of the next quiz
    "quiz_current": None,  # the running peft_edu.quiz.Quiz, None before a quiz starts
    "quiz_position": 0,  # index of the question on screen
    "quiz_graded": dict,  # question index -> peft_edu.quiz.Graded, for the running quiz
    "quiz_finished": False,  # True once the learner asked for the score
    "quiz_progress": dict,  # topic -> [answered, correct] this session (sidebar)
    "quiz_method_runs": dict,  # method key -> {"quiz": Quiz, "graded": {index: Graded}}
    "quiz_notice": dict,  # widget prefix -> a one-off message ("choose an answer first")
}


def init_state() -> None:
    """Create missing keys with their defaults; never overwrite a learner's values."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value() if callable(value) else value)
