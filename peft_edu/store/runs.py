"""Lab runs in the store: one row per run from the moment it is queued, its curves and
results once it ends, its adapter as a zip in the learner's folder.

Plain data only (JSON documents, bytes): ``peft_edu.lab.saved`` turns jobs and results into
these. A run still ``queued`` or ``running`` when the server stopped is marked
``interrupted`` by ``interrupt_live`` at the next start.
"""
from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from peft_edu.store.schema import LIVE, learners, runs
from peft_edu.store.store import Store, now, utc

INTERRUPTED = "interrupted"
INTERRUPTED_MESSAGE = "The server stopped while this run was queued or training; start it again."


@dataclass(frozen=True)
class SavedRun:
    id: str
    job_id: str  # the live job of this server process ("" once the process is gone)
    label: str
    method: str
    data_name: str
    status: str
    message: str
    config: dict  # the RunConfig as JSON (peft_edu.lab.saved.config_doc)
    curves: list  # one dict per step (StepMetrics fields)
    result: dict  # test_accuracy, trainable, total, seconds, peak_memory_bytes, device
    confusion: list | None  # m[true][predicted] on the test split
    label_names: list
    has_adapter: bool
    created_at: datetime
    finished_at: datetime | None
    race: str | None = None  # the race it ran in (the lab's Pareto chart); None: a run on its own


def _saved(row) -> SavedRun:
    return SavedRun(row.id, row.job_id or "", row.label, row.method, row.data_name, row.status, row.message,
                    json.loads(row.config), json.loads(row.curves), json.loads(row.result),
                    json.loads(row.confusion) if row.confusion else None, json.loads(row.label_names),
                    bool(row.adapter_path), utc(row.created_at), utc(row.finished_at), row.race)


def new_run_id() -> str:
    return uuid.uuid4().hex


def add_run(store: Store, learner_id: str, run_id: str, *, job_id: str, label: str, method: str,
            data_name: str, config: dict, label_names=(), race: str | None = None) -> None:
    """Record a run as queued (before it trains, so a refresh finds it), with its race if it has one."""
    with store.engine.begin() as conn:
        conn.execute(insert(runs).values(
            id=run_id, learner_id=learner_id, job_id=job_id, label=label[:200], method=method,
            data_name=data_name[:200], status="queued", message="", config=json.dumps(config), curves="[]",
            result="{}", label_names=json.dumps(list(label_names)), created_at=now(), race=race))


def set_status(store: Store, run_id: str, status: str) -> None:
    """A live run's new live status ("running"); an ended run keeps its status."""
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status.in_(LIVE)).values(status=status))


def finish_run(store: Store, learner_id: str, run_id: str, *, status: str, message: str, curves: list,
               result: dict, confusion: list | None = None, adapter: bytes | None = None) -> None:
    """Keep what a run produced; its adapter zip goes to the learner's folder (only while the
    run is still kept: a learner who deleted their data gets no new files)."""
    with store.engine.begin() as conn:
        done = conn.execute(update(runs).where(runs.c.id == run_id, runs.c.learner_id == learner_id).values(
            status=status, message=message, curves=json.dumps(curves), result=json.dumps(result),
            confusion=json.dumps(confusion) if confusion is not None else None,
            accuracy=result.get("test_accuracy"), finished_at=now()))
    if not adapter or not done.rowcount:
        return
    folder = store.learner_folder(learner_id) / "adapters"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.zip").write_bytes(adapter)
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            adapter_path=str((folder / f"{run_id}.zip").relative_to(store.folder))))


def runs_of(store: Store, learner_id: str) -> list[SavedRun]:
    """This learner's runs, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(runs).where(runs.c.learner_id == learner_id).order_by(runs.c.created_at))
        return [_saved(row) for row in rows]


def adapter_bytes(store: Store, learner_id: str, run_id: str) -> bytes | None:
    """The run's adapter zip, only for the learner who owns the run."""
    with store.engine.connect() as conn:
        path = conn.execute(select(runs.c.adapter_path).where(runs.c.id == run_id,
                                                               runs.c.learner_id == learner_id)).scalar()
    if not path:
        return None
    file = store.folder / path
    return file.read_bytes() if file.is_file() else None


def delete_run(store: Store, learner_id: str, run_id: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(runs).where(runs.c.id == run_id, runs.c.learner_id == learner_id))
    (store.learner_folder(learner_id) / "adapters" / f"{run_id}.zip").unlink(missing_ok=True)


def interrupt_live(store: Store) -> int:
    """At start-up: runs left queued or training by a previous server process are interrupted."""
    with store.engine.begin() as conn:
        done = conn.execute(update(runs).where(runs.c.status.in_(LIVE)).values(
            status=INTERRUPTED, message=INTERRUPTED_MESSAGE, job_id=None, finished_at=now()))
    return done.rowcount


def cleanup(store: Store, max_age_days: float) -> int:
    """Delete runs (rows and adapter files) older than ``max_age_days``; returns how many."""
    cutoff = now() - timedelta(days=max_age_days)
    with store.engine.begin() as conn:
        old = conn.execute(select(runs.c.id, runs.c.learner_id, runs.c.adapter_path)
                           .where(runs.c.created_at < cutoff)).all()
        conn.execute(delete(runs).where(runs.c.id.in_([r.id for r in old])))
    for row in old:
        if row.adapter_path:
            Path(store.folder / row.adapter_path).unlink(missing_ok=True)
    return len(old)


def forget_idle_learners(store: Store, max_age_days: float) -> int:
    """Delete learners not seen for ``max_age_days`` with all they kept (answers, the quiz in
    progress, the kept upload, runs and adapter files): the store's age limit for whole learners.
    Returns how many."""
    cutoff = now() - timedelta(days=max_age_days)
    with store.engine.connect() as conn:
        idle = conn.execute(select(learners.c.id).where(learners.c.last_seen < cutoff)).scalars().all()
    for learner_id in idle:
        store.delete_learner(learner_id)
    return len(idle)


def remove_empty_folders(store: Store) -> None:
    root = store.folder / "learners"
    for folder in root.glob("*/adapters") if root.exists() else ():
        if not any(folder.iterdir()):
            shutil.rmtree(folder.parent, ignore_errors=True)
