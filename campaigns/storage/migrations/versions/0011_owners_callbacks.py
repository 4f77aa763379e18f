"""customer_owners and callback_dials: one agent per customer, callbacks dialed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 12:00:00

``customer_owners`` holds the agent who deals with each customer (set at the
first conversation or assigned); ``callback_dials`` what became of each
desktop callback when its time came (queued, dialing, done, refused, missed,
with the reason).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_owners",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_customer_owners_agent", "customer_owners", ["agent"])
    op.create_table(
        "callback_dials",
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("slot", sa.SmallInteger(), nullable=True),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("callback_id"),
    )
    op.create_index("ix_callback_dials_run_slot", "callback_dials", ["run_id", "slot"])
    op.create_index("ix_callback_dials_attempt_id", "callback_dials", ["attempt_id"])


def downgrade() -> None:
    op.drop_index("ix_callback_dials_attempt_id", table_name="callback_dials")
    op.drop_index("ix_callback_dials_run_slot", table_name="callback_dials")
    op.drop_table("callback_dials")
    op.drop_index("ix_customer_owners_agent", table_name="customer_owners")
    op.drop_table("customer_owners")
