"""The store's tables (SQLAlchemy 2 Core). Alembic's migrations (``migrations/versions``)
create and upgrade them; this module is what the queries are written against.

Every learner-owned row carries ``learner_id``, the learner's public id. The secret resume
code itself is never stored: ``learners.code_hash`` is its SHA-256.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text)

metadata = MetaData()

learners = Table(
    "learners", metadata,
    Column("id", String(16), primary_key=True),  # public id: names folders, shown to the teacher
    Column("code_hash", String(64), nullable=False, unique=True),  # sha256 of the resume code
    Column("name", String(80)),  # optional display name
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

answers = Table(
    "answers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("learner_id", String(16), ForeignKey("learners.id", ondelete="CASCADE"), nullable=False),
    Column("question_id", String(200), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("given", Text, nullable=False),
    Column("expected", Text, nullable=False),
    Column("source", String(64), nullable=False),  # "quiz" or "method:<key>"
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Index("ix_answers_learner", "learner_id"),
)

kept = Table(  # small JSON documents per learner: the quiz in progress, a page's settings
    "kept", metadata,
    Column("learner_id", String(16), ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    Column("learner_id", String(16), ForeignKey("learners.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", String(32)),  # the live job in this server process, while there is one
    Column("label", String(200), nullable=False),
    Column("method", String(64), nullable=False),
    Column("data_name", String(200), nullable=False),
    Column("status", String(32), nullable=False),  # queued | running | done | stopped | ... | interrupted
    Column("message", Text, nullable=False, default=""),
    Column("config", Text, nullable=False),  # JSON of the RunConfig
    Column("curves", Text, nullable=False, default="[]"),  # JSON list of step metrics
    Column("result", Text, nullable=False, default="{}"),  # JSON: accuracy, counts, time, memory, device
    Column("confusion", Text),  # JSON matrix m[true][predicted]
    Column("label_names", Text, nullable=False, default="[]"),  # JSON list
    Column("accuracy", Float),  # test accuracy, for the teacher's table
    Column("adapter_path", String(500)),  # zip under the data folder, relative to it
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("race", String(32)),  # the race it was queued in (None: a run on its own); revision 0002
    Index("ix_runs_learner", "learner_id"),
)

LIVE = ("queued", "running")  # a run in one of these when the server stopped is "interrupted"
