"""Every session-state key of the app, declared once with its default (DESIGN.md rule 10).

Pages call ``init_state()`` at the top and then read ``st.session_state[KEY]``.
Add a page's keys in its own section below.
"""
from __future__ import annotations

import streamlit as st

DEFAULTS: dict[str, object] = {
    # --- the learner (ui/learner.py) -----------------------------------------------------
    "learner": None,  # this session's peft_edu.store.Learner, found from the URL's code or new
    "learner_code": "",  # its resume code (also in the URL as ?learner=...)
    "learner_notice": "",  # a one-off message for the sidebar (unknown code, data deleted)
    "learner_touched": 0.0,  # time.monotonic() of the last "last seen" write
    # --- method pages ---------------------------------------------------------------
    # --- calculator -----------------------------------------------------------------
    # --- compare --------------------------------------------------------------------
    "compare_last_query": None,  # the race settings this page last wrote into the URL (ui/compare_state.py)
    # --- live lab -------------------------------------------------------------------
    # ("lab_owner", the learner's jobs.Owner, and "lab_run_ids", job id -> kept run id, are set by
    #  ui/lab/keep.attach on the lab page: importing the jobs module here would load torch everywhere.)
    "lab_baseline_auto": True,  # start the shared head-only baseline with the first built-in run
    "lab_jobs": list,  # the learner's live jobs (peft_edu.lab.jobs.Job), oldest first (shared by its tabs)
    "lab_job_data": dict,  # job id -> (data name, train, test), for Try it
    "lab_upload_cache": dict,  # upload digest -> parsed upload (or its problem)
    "lab_upload_kept": None,  # (name, size) of the upload last kept for the learner (ui/lab/keep.py)
    "lab_last_query": None,  # the recipe this page last wrote into the URL (ui/lab/url.py)
    "lab_seen_finished": set,  # kept run ids whose end already triggered a full rerun
    # --- teacher (app_pages/teacher.py) ---------------------------------------------------
    "teacher_ok": False,  # the teacher password was given in this session
    # --- quiz -----------------------------------------------------------------------
    # callables (list, dict) give every session its own fresh container
    "quiz_topics": list,  # topics chosen on the Quiz page (empty = all topics)
    "quiz_length": 10,  # number of questions of the next quiz
    "quiz_current": None,  # the running peft_edu.quiz.Quiz, None before a quiz starts
    "quiz_position": 0,  # index of the question on screen
    "quiz_graded": dict,  # question index -> peft_edu.quiz.Graded, for the running quiz
    "quiz_responses": dict,  # question index -> {"response", "tries"}: kept, regraded on resume
    "quiz_finished": False,  # True once the learner asked for the score
    "quiz_progress": dict,  # topic -> [answered, correct] this session (sidebar)
    "quiz_method_runs": dict,  # method key -> {"quiz": Quiz, "graded": {index: Graded}}
    "quiz_last_query": None,  # the quiz settings this page last wrote into the URL
    "quiz_notice": dict,  # widget prefix -> a one-off message ("choose an answer first")
    "quiz_orders": dict,  # widget prefix -> the option order shown in that attempt (bank indices)
    "quiz_slips": dict,  # widget prefix -> the first, wrong numeric answer (one retry is allowed)
}


def init_state() -> None:
    """Create missing keys with their defaults; never overwrite a learner's values."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value() if callable(value) else value)
