"""The Semantic search page's session-state keys, declared once with their defaults.

(They live here rather than in ui/state.py because the page's owner token needs the jobs
module, which loads torch: ``init_search_state()`` runs only on this page.)
"""
from __future__ import annotations

import streamlit as st

DEFAULTS: dict[str, object] = {
    "search_jobs": list,  # this session's embedding jobs (peft_edu.lab.jobs.Job), oldest first
    "search_job_data": dict,  # job id -> (data name, RetrievalSet) the run trained and was scored on
    "search_upload_cache": dict,  # upload key -> RetrievalSet or its CSVProblem
    "search_seen_finished": set,  # job ids whose end already triggered a full rerun
    "search_zips": dict,  # job id -> zipped adapter bytes
}
MAX_KEPT = 8  # runs a session keeps


def init_search_state() -> None:
    """Create missing keys (never overwrite a learner's values) and the session's jobs owner."""
    from peft_edu.lab import jobs

    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value() if callable(value) else value)
    st.session_state.setdefault("search_owner", jobs.Owner())  # dropped with the session -> its jobs stop
