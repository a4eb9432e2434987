"""Lab runs remember their race: the lab's Pareto chart finds a race's runs after a refresh.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: a run queued alone, and every run kept before this revision, belongs to no race
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("race", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("race")
