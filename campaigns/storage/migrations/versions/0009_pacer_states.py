"""pacer_states: what each campaign's pacer learned, carried between dial sessions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:00:00

Each hourly dial session used to build its pacer from the priors and spend
its first calls in progressive warm-up; the state a session ends with is now
saved here and restored by the campaign's next session.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacer_states",
        sa.Column("campaign", sa.String(length=80), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("campaign"),
    )


def downgrade() -> None:
    op.drop_table("pacer_states")
