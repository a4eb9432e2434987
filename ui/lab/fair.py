"""The teacher's view of fair shares: the limits in force and the live queue (who, what, place, wait).

UI only: the numbers come from ``peft_edu.lab.jobs`` (``limits()``, ``queue()``).
"""
from __future__ import annotations

import streamlit as st

from peft_edu.lab import jobs
from ui.lab.live import queue_text


def limits_text() -> str:
    rule = jobs.limits()
    ends = (f"the runs of a learner with no open tab for {rule.abandoned_s:,.0f} s end" if rule.abandoned_s
            else "runs go on when their learner has left")
    return (f"Limits in force: {jobs.max_runs()} run(s) train at once for the class (`PEFT_LAB_MAX_RUNS`); "
            f"each learner has {rule.runs_per_learner} run or race at a time (`PEFT_LAB_RUNS_PER_LEARNER`), "
            f"races of up to {rule.max_race} methods (`PEFT_LAB_MAX_RACE`), at most {rule.max_steps:,} steps "
            f"per run (`PEFT_LAB_MAX_STEPS`); {ends} (`PEFT_LAB_ABANDONED_S`).")


def _who(store, learner_id: str | None, names: dict) -> str:
    if learner_id is None:
        return "(the app)"
    if learner_id not in names:
        found = store.learner(learner_id)
        names[learner_id] = (found.name if found and found.name else None) or f"(no name) {learner_id[:6]}"
    return names[learner_id]


def queue_rows(store) -> list[dict]:
    """One row per run training or queued now, in queue order."""
    names: dict = {}
    rows = []
    for view in jobs.queue():
        if view.status == jobs.RUNNING:
            where = f"training · about {view.eta_s:,.0f} s left" if view.metrics else "training (starting)"
        else:
            where = queue_text(view)
        rows.append({"learner": _who(store, view.learner, names), "run": view.label, "where": where})
    return rows


def render_queue(store) -> None:
    st.caption(limits_text())
    rows = queue_rows(store)
    if rows:  # the class's live queue (this server process)
        st.dataframe(rows, hide_index=True, key="teacher_queue")
