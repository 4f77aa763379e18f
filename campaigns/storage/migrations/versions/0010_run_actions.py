"""run_actions: who approved, launched, resumed or cancelled a run from the console

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00

The console's run page calls the same state functions as ``cadencia run``;
each press of its buttons, done or refused, is recorded here with the
account that pressed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("state_before", sa.String(length=20), nullable=False),
        sa.Column("state_after", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_actions_run_id", "run_actions", ["run_id"])


def downgrade() -> None:
    op.drop_table("run_actions")
