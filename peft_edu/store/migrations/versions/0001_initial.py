"""The first schema: learners, quiz answers, kept documents, lab runs.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def learner_fk() -> sa.ForeignKey:
    return sa.ForeignKey("learners.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "learners",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(80)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("learner_id", sa.String(16), learner_fk(), nullable=False),
        sa.Column("question_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("given", sa.Text, nullable=False),
        sa.Column("expected", sa.Text, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("answered_at", TZ, nullable=False),
    )
    op.create_index("ix_answers_learner", "answers", ["learner_id"])
    op.create_table(
        "kept",
        sa.Column("learner_id", sa.String(16), learner_fk(), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("learner_id", sa.String(16), learner_fk(), nullable=False),
        sa.Column("job_id", sa.String(32)),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("data_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("curves", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("confusion", sa.Text),
        sa.Column("label_names", sa.Text, nullable=False),
        sa.Column("accuracy", sa.Float),
        sa.Column("adapter_path", sa.String(500)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
    )
    op.create_index("ix_runs_learner", "runs", ["learner_id"])


def downgrade() -> None:
    for table in ("runs", "kept", "answers", "learners"):
        op.drop_table(table)
