"""payments, and promises settled kept, partly kept or broken

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:00:00

Payments arrive from the bank's file or its signed API, one row per
reference. A promise now records its campaign, its grace period, how much
was paid toward it, when it was settled and the ledger row that took it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(14, 2)
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("method", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("allocated", MONEY, nullable=False),
        sa.Column("ledger_event_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_payments_customer_id", "payments", ["customer_id"])
    op.create_index("ix_payments_account_id", "payments", ["account_id"])
    with op.batch_alter_table("promises") as batch:
        batch.alter_column("status", type_=sa.String(length=12), existing_nullable=False)
        batch.add_column(sa.Column("campaign", sa.String(length=80), nullable=True))
        batch.add_column(
            sa.Column("grace_days", sa.SmallInteger(), nullable=False, server_default="3")
        )
        batch.add_column(sa.Column("paid_amount", MONEY, nullable=False, server_default="0"))
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ledger_event_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("promises") as batch:
        for column in ("ledger_event_id", "settled_at", "paid_amount", "grace_days", "campaign"):
            batch.drop_column(column)
        batch.alter_column("status", type_=sa.String(length=10), existing_nullable=False)
    op.drop_table("payments")
