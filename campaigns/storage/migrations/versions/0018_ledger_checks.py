"""ledger_checks: the ledger's chain verified in the background, and its results

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-15 12:00:00

The console's ledger page recomputed the whole chain on every request. A
verification is now a row: requested (by a compliance officer's button, the
schedule or ``cadencia ledger verify``), then started and finished by the RQ
job or the command that runs it, with the result (ok, the first bad row and
what is wrong with it), the rows checked and how long it took. The page shows
the newest finished one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("ledger_checks")
