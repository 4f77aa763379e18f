"""contact_points.retired_at: a number or email the bank's full file no longer lists

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-11 12:00:00

``cadencia portfolio import --full-refresh`` marks the contact points the file
no longer lists for their customer as retired (with the import's instant)
instead of deleting them: the ledger and the audit still name them, and
nothing plans, dials or messages them again (``campaigns.reach``). A later
file that lists the point again clears the mark.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_points") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_points") as batch:
        batch.drop_column("retired_at")
