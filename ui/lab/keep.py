"""The lab's runs belong to the learner, not to the browser tab.

A learner's live jobs, their data and their run ids sit in one process-wide registry keyed by
the learner's id (``attach`` points the session state at them), so a refresh or a second tab
finds the runs still queued or training. Every run is also kept in the store from the moment
it is queued (``submit``); its results arrive there from the job's own thread
(``peft_edu.lab.saved.recorder``), and ``kept_views`` reads them back, after a restart too.
Memory stays bounded: ``trim_models`` holds at most ``MODELS_IN_MEMORY`` trained models.
"""
from __future__ import annotations

import os

import threading

import streamlit as st

from peft_edu.lab import jobs
from peft_edu.lab.drift import general_texts
from peft_edu.lab.saved import config_doc, marker, recorder, saved_view
from peft_edu.store import runs
from ui import learner
from ui.lab import tabs

# trained models held for Try it, across all learners (env PEFT_LAB_HELD_MODELS); each holds only what its run
# changed (peft_edu.lab.train.share_unchanged): ~90 MB for a full fine-tune, far less for an adapter
_HELD = os.environ.get("PEFT_LAB_HELD_MODELS", "").strip()
MODELS_IN_MEMORY = int(_HELD) if _HELD.isdigit() else 8
state = st.session_state


@st.cache_resource(show_spinner=False)
def _registry() -> dict:
    return {"owners": {}, "jobs": {}, "data": {}, "runs": {}, "lock": threading.Lock()}


def attach() -> str:
    """This session's lab state is the learner's (live jobs, their data); returns the learner id."""
    learner_id = learner.learner_id()
    reg = _registry()
    with reg["lock"]:
        state["lab_owner"] = reg["owners"].setdefault(learner_id, jobs.Owner(learner_id))
        state["lab_jobs"] = reg["jobs"].setdefault(learner_id, [])
        state["lab_job_data"] = reg["data"].setdefault(learner_id, {})
        state["lab_run_ids"] = reg["runs"].setdefault(learner_id, {})
    trim_models()
    tabs.watch()  # runs of learners who left (no open tab for a while) end; a refresh keeps them
    return learner_id


def trim_models(limit: int = MODELS_IN_MEMORY) -> None:
    """Hold at most ``limit`` trained models in the whole process (newest kept): an older
    ended job leaves the registry (its results are in the store; only Try it needs the model)."""
    reg = _registry()
    with reg["lock"]:
        ended = [(job, learner_id) for learner_id, mine in reg["jobs"].items() for job in mine if job.finished]
        ended.sort(key=lambda pair: pair[0].created, reverse=True)
        with_model = [pair for pair in ended if getattr(pair[0].result, "model", None) is not None]
        for job, learner_id in with_model[limit:]:
            reg["jobs"][learner_id].remove(job)
            reg["data"][learner_id].pop(job.id, None)
            jobs.forget(job)


def drop(learner_id: str) -> None:
    """Forget a learner's live jobs (their data was deleted)."""
    reg = _registry()
    with reg["lock"]:
        for table in ("owners", "jobs", "data", "runs"):
            reg[table].pop(learner_id, None)


def submit(cfg, data, base, tokenizer, label_text: str | None = None, race: str | None = None):
    """Keep the run as queued, then queue its job; its results are kept when it ends. Raises
    ``jobs.LimitError`` (a ValueError) when the teacher's limits do not allow it now."""
    cfg.check()  # a bad setting fails before anything is kept
    name, train, test = data
    store, learner_id = learner.store(), learner.learner_id()
    jobs.check_entry(learner_id, steps=cfg.steps, race=race)  # nothing kept for a refused run
    run_id, label_text = runs.new_run_id(), label_text or jobs.default_label(cfg)
    runs.add_run(store, learner_id, run_id, job_id="", label=label_text, method=cfg.method, data_name=name,
                 config=config_doc(cfg), label_names=test.label_names, race=race)
    record, box = recorder(store, learner_id, run_id, tokenizer, test), {}

    def on_done(*args, **kwargs):
        record(*args, **kwargs)  # kept first; then, once the job has ended, the model cache is trimmed
        threading.Thread(target=_trim_when_ended, args=(box,), daemon=True).start()

    try:
        job = jobs.submit(cfg, base, tokenizer, train, test, owner=state["lab_owner"], label_text=label_text,
                          on_running=marker(store, run_id), on_done=on_done, learner=learner_id, race=race,
                          general_texts=general_texts())  # its encoder's drift, for the Pareto chart
    except ValueError:  # another tab of this learner was quicker: the limit holds, nothing is kept
        runs.delete_run(store, learner_id, run_id)
        raise
    box["job"] = job
    state["lab_run_ids"][job.id] = run_id
    return job


def _trim_when_ended(box: dict) -> None:
    """Bound the held models as soon as a run ends, not only when a lab page next runs (a class
    that has gone home holds no more than ``MODELS_IN_MEMORY``)."""
    job = box.get("job")
    if job is not None and job.wait(60):
        trim_models()


def kept_runs() -> list:
    return runs.runs_of(learner.store(), learner.learner_id())


def kept_views(saved: list) -> list:
    """The learner's ended runs (from the store) as JobViews, oldest first."""
    views = [saved_view(run) for run in saved if run.status not in ("queued", "running")]
    return [v for v in views if v is not None]


def live_jobs(saved: list) -> list:
    """This learner's jobs whose kept run has not ended yet (a refresh reattaches to these)."""
    ended = {run.id for run in saved if run.status not in ("queued", "running")}
    return [job for job in state["lab_jobs"] if state["lab_run_ids"].get(job.id) not in ended]


def model_of(run_id: str):
    """The trained model of a kept run while this server still holds it, else None."""
    for job in state["lab_jobs"]:
        if state["lab_run_ids"].get(job.id) == run_id:
            return getattr(job.view().result, "model", None)
    return None


def data_of(run_id: str):
    """(name, train, test) of a kept run's live job, else None."""
    for job in state["lab_jobs"]:
        if state["lab_run_ids"].get(job.id) == run_id:
            return state["lab_job_data"].get(job.id)
    return None


def adapter(run_id: str) -> bytes | None:
    return runs.adapter_bytes(learner.store(), learner.learner_id(), run_id)


# --- the learner's last valid upload, kept in their folder ------------------------------------
UPLOAD_KEY = "lab_upload"  # kept document: {"name": file name, "bytes": size}


def keep_upload(name: str, raw: bytes) -> None:
    """Keep the learner's valid CSV (once per file), so the next visit can train on it again."""
    key = (name, len(raw))
    if state.get("lab_upload_kept") == key:
        return
    store, learner_id = learner.store(), learner.learner_id()
    folder = store.learner_folder(learner_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "upload.csv").write_bytes(raw)
    store.keep(learner_id, UPLOAD_KEY, {"name": name, "bytes": len(raw)})
    state["lab_upload_kept"] = key


def kept_upload() -> tuple[str, bytes] | None:
    """(file name, bytes) of the learner's last valid upload, if one is kept."""
    store, learner_id = learner.store(), learner.learner_id()
    doc = store.kept(learner_id, UPLOAD_KEY)
    path = store.learner_folder(learner_id) / "upload.csv"
    if not doc or not path.is_file():
        return None
    return doc["name"], path.read_bytes()
