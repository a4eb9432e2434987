"""The class as a teacher sees it: who is active, quiz scores per learner and per topic,
the questions most often missed, every lab run, and CSV exports with names and times.

The page that shows these is behind ``PEFT_LAB_TEACHER_PASSWORD`` (``password_ok``, a
constant-time comparison); learners' own pages never call this module.
"""
from __future__ import annotations

import csv
import hmac
import io
import json
import os
from datetime import timedelta

from sqlalchemy import case, func, select

from peft_edu.store.schema import LIVE, answers, learners, runs
from peft_edu.store.store import Store, now, utc

PASSWORD_ENV = "PEFT_LAB_TEACHER_PASSWORD"
ACTIVE_MINUTES = 15  # "active now": seen by the app within this many minutes


def password_set() -> bool:
    return bool(os.environ.get(PASSWORD_ENV, ""))


def password_ok(given: str) -> bool:
    """True only when a password is set and ``given`` equals it (constant time)."""
    expected = os.environ.get(PASSWORD_ENV, "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _name(row) -> str:
    return row.name or f"(no name) {row.id[:6]}"


def active_learners(store: Store, minutes: int = ACTIVE_MINUTES) -> list[dict]:
    since = now() - timedelta(minutes=minutes)
    with store.engine.connect() as conn:
        rows = conn.execute(select(learners).where(learners.c.last_seen >= since)
                            .order_by(learners.c.last_seen.desc())).all()
    return [{"learner": _name(r), "last seen (UTC)": utc(r.last_seen).strftime("%H:%M:%S")} for r in rows]


RIGHT = func.sum(case((answers.c.correct, 1), else_=0))


def learner_scores(store: Store) -> list[dict]:
    """One row per learner: answered, correct, share, last answer."""
    query = (select(learners.c.id, learners.c.name, func.count(answers.c.id), RIGHT, func.max(answers.c.answered_at))
             .select_from(learners.join(answers)).group_by(learners.c.id, learners.c.name))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{"learner": _name(r), "answered": int(r[2]), "correct": int(r[3] or 0),
             "score": f"{100 * int(r[3] or 0) / int(r[2]):.0f}%", "last answer (UTC)": f"{utc(r[4]):%Y-%m-%d %H:%M}"}
            for r in sorted(rows, key=lambda r: _name(r).lower())]


def topic_scores(store: Store) -> list[dict]:
    """One row per (learner, topic)."""
    query = (select(learners.c.id, learners.c.name, answers.c.topic, func.count(answers.c.id), RIGHT)
             .select_from(learners.join(answers)).group_by(learners.c.id, learners.c.name, answers.c.topic))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{"learner": _name(r), "topic": r[2], "answered": int(r[3]), "correct": int(r[4] or 0)}
            for r in sorted(rows, key=lambda r: (_name(r).lower(), r[2]))]


def most_missed(store: Store, limit: int = 10) -> list[dict]:
    wrong = func.sum(case((answers.c.correct, 0), else_=1))
    query = (select(answers.c.question_id, answers.c.topic, func.count(), wrong)
             .group_by(answers.c.question_id, answers.c.topic).order_by(wrong.desc(), answers.c.question_id)
             .limit(limit))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{"question": q, "topic": t, "asked": int(n), "missed": int(w or 0)} for q, t, n, w in rows if w]


def run_rows(store: Store, live_only: bool = False) -> list[dict]:
    query = select(runs, learners.c.name).select_from(runs.join(learners)).order_by(runs.c.created_at)
    if live_only:
        query = query.where(runs.c.status.in_(LIVE))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        result = json.loads(r.result)
        out.append({"learner": r.name or f"(no name) {r.learner_id[:6]}", "run": r.label, "method": r.method,
                    "data": r.data_name, "status": r.status,
                    "test accuracy": f"{100 * r.accuracy:.1f}%" if r.accuracy is not None else "—",
                    "time (s)": f"{result['seconds']:,.1f}" if "seconds" in result else "—",
                    "started (UTC)": f"{utc(r.created_at):%Y-%m-%d %H:%M}"})
    return out


def answers_csv(store: Store) -> str:
    """Every answer of the class: learner, time, question, topic, result, given, expected."""
    query = (select(learners.c.name, learners.c.id, answers).select_from(learners.join(answers))
             .order_by(answers.c.answered_at))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", "learner_id", "answered_at_utc", "question_id", "topic", "result", "given",
                     "expected", "where"])
    with store.engine.connect() as conn:
        for r in conn.execute(query):
            writer.writerow([_safe(r.name or ""), r.learner_id, utc(r.answered_at).isoformat(timespec="seconds"),
                             r.question_id, r.topic, "correct" if r.correct else "wrong", _safe(r.given),
                             _safe(r.expected), r.source])
    return out.getvalue()


def runs_csv(store: Store) -> str:
    rows = run_rows(store)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["learner"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _safe(v) for k, v in row.items()})
    return out.getvalue()


def _safe(value):
    """Spreadsheets run cells that start with = + - @ as formulas: neutralise those."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
