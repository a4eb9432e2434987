"""The store: learners (a secret resume code, no account), their quiz answers and their
kept documents (the quiz in progress, a page's settings). Lab runs: ``peft_edu.store.runs``;
the class view: ``peft_edu.store.teacher``.

A learner is found only through the code: ``find(code)`` hashes it and looks the hash up, so
a guessed or tampered code finds nobody. Every other call takes the learner's public id,
which the app only ever gets from ``find``, ``new_learner`` or ``codes.make_learner``.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.engine import Engine

from peft_edu.store.codes import (ALPHABET, CODE, CODE_LENGTH, NAME_LENGTH, Learner,  # noqa: F401  (re-exported)
                                  code_hash, make_learner, new_code, now, utc)
from peft_edu.store.engine import data_dir, default_url, open_engine
from peft_edu.store.schema import answers, kept, learners, runs


def _learner(row) -> Learner:
    return Learner(row.id, row.name or "", utc(row.created_at), utc(row.last_seen))


class Store:
    """One database (SQLite file or server) and the data folder beside it."""

    def __init__(self, engine: Engine, folder: Path, notice: str = "") -> None:
        self.engine, self.folder, self.notice = engine, folder, notice

    # -- learners
    def new_learner(self, name: str = "") -> tuple[Learner, str]:
        """A new learner and its resume code (the only time the code is known in the clear)."""
        learner, code = make_learner(name)
        self.add_learner(learner, code)
        return learner, code

    def add_learner(self, learner: Learner, code: str) -> None:
        """Write a learner made without the store (``codes.make_learner``) with its resume code."""
        with self.engine.begin() as conn:
            conn.execute(insert(learners).values(id=learner.id, code_hash=code_hash(code),
                                                 name=learner.name[:NAME_LENGTH] or None,
                                                 created_at=learner.created_at, last_seen=learner.last_seen))

    def find(self, code: str) -> Learner | None:
        """The learner whose resume code is ``code``; None for any other string."""
        code = (code or "").strip().lower()
        if not CODE.match(code):
            return None
        with self.engine.begin() as conn:
            row = conn.execute(select(learners).where(learners.c.code_hash == code_hash(code))).first()
            if row is None:
                return None
            conn.execute(update(learners).where(learners.c.id == row.id).values(last_seen=now()))
        return _learner(row)

    def learner(self, learner_id: str) -> Learner | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(learners).where(learners.c.id == learner_id)).first()
        return _learner(row) if row else None

    def rename(self, learner_id: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(learners).where(learners.c.id == learner_id)
                         .values(name=name.strip()[:NAME_LENGTH] or None))

    def touch(self, learner_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(learners).where(learners.c.id == learner_id).values(last_seen=now()))

    def delete_learner(self, learner_id: str) -> None:
        """Everything of this learner: answers, kept documents, runs, adapter files, the learner."""
        with self.engine.begin() as conn:
            for table in (answers, kept, runs):
                conn.execute(delete(table).where(table.c.learner_id == learner_id))
            conn.execute(delete(learners).where(learners.c.id == learner_id))
        shutil.rmtree(self.learner_folder(learner_id), ignore_errors=True)

    def learner_folder(self, learner_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{12}", learner_id):
            raise ValueError(f"not a learner id: {learner_id!r}")
        return self.folder / "learners" / learner_id

    # -- quiz answers
    def record_answer(self, learner_id: str, question_id: str, topic: str, correct: bool,
                      given: str = "", expected: str = "", source: str = "quiz") -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(answers).values(
                learner_id=learner_id, question_id=question_id[:200], topic=topic[:64], correct=bool(correct),
                given=str(given), expected=str(expected), source=source[:64], answered_at=now()))

    def progress(self, learner_id: str) -> dict[str, list[int]]:
        """{topic: [answered, correct]} over every answer this learner ever gave."""
        query = (select(answers.c.topic, func.count(), func.sum(case((answers.c.correct, 1), else_=0)))
                 .where(answers.c.learner_id == learner_id).group_by(answers.c.topic))
        with self.engine.connect() as conn:
            return {topic: [int(n), int(right or 0)] for topic, n, right in conn.execute(query)}

    def answer_count(self, learner_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(answers)
                                .where(answers.c.learner_id == learner_id)).scalar_one()

    # -- kept documents (JSON)
    def keep(self, learner_id: str, key: str, value) -> None:
        """Store ``value`` (JSON-able) under ``key`` for this learner, replacing what was there."""
        doc = json.dumps(value)
        with self.engine.begin() as conn:
            done = conn.execute(update(kept).where(kept.c.learner_id == learner_id, kept.c.key == key)
                                .values(value=doc, updated_at=now()))
            if not done.rowcount:
                conn.execute(insert(kept).values(learner_id=learner_id, key=key, value=doc, updated_at=now()))

    def kept(self, learner_id: str, key: str, default=None):
        with self.engine.connect() as conn:
            doc = conn.execute(select(kept.c.value).where(kept.c.learner_id == learner_id,
                                                          kept.c.key == key)).scalar()
        return json.loads(doc) if doc is not None else default

    def forget(self, learner_id: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(kept).where(kept.c.learner_id == learner_id, kept.c.key == key))

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None, folder: Path | str | None = None) -> Store:
    """The store at ``url`` (default: ``PEFT_LAB_DB`` or the data folder's SQLite file),
    migrated to the newest schema. Raises ``engine.StoreError`` when it cannot be used."""
    engine, notice = open_engine(url or default_url())
    return Store(engine, Path(folder) if folder else data_dir(), notice)
