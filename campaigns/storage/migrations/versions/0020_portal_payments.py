"""portal_payments: the portal's payments through the processor and its webhook

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 00:00:00

``portal_payments``: one row per payment a customer starts on the portal,
written (``created``) before the processor is called, then ``open`` with the
checkout session's id, ``failed`` with the reason, or ``paid`` once the
processor's signed webhook confirmed it and the payment was recorded.
``processor_events``: every webhook event handled, keyed by the processor's
event id, so a redelivered or replayed event changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_payments",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("link_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=80), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("promise_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("processor", sa.String(length=20), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=True, unique=True),
        sa.Column("payment_intent", sa.String(length=255), nullable=True),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_portal_payments_customer", "portal_payments", ["customer_id"])
    op.create_table(
        "processor_events",
        sa.Column("processor", sa.String(length=20), primary_key=True),
        sa.Column("event_id", sa.String(length=255), primary_key=True),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=80), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("processor_events")
    op.drop_index("ix_portal_payments_customer", table_name="portal_payments")
    op.drop_table("portal_payments")
