"""import_streaming: drop the contact points' index that duplicates their unique key

``ix_contact_points_customer_id`` indexes ``customer_id`` alone, which the
unique constraint on ``(customer_id, kind, value)`` already serves (its leading
column): every lookup by customer can use the constraint's index, and the
import paid for maintaining both on each of millions of inserted points.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_contact_points_customer_id", table_name="contact_points")


def downgrade() -> None:
    op.create_index("ix_contact_points_customer_id", "contact_points", ["customer_id"])
