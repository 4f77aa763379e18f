"""offer_requests: agent-side offers beyond the campaign's limits wait for a supervisor

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 00:00:00

An agent's settlement or instalment plan inside the campaign's ``[offers]``
terms becomes tracked promises at once; one beyond them (a deeper discount,
more instalments, a smaller down payment or instalment, a wider spacing, a
later date than the promise window) is a row here: what was asked, each
limit it exceeds, the agent, the customer, the campaign, when; then the
supervisor's decision (approved or rejected, by whom, when, the reason) and
the promises an approval created (``campaigns.negotiation``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offer_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=80), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("debt_ids", sa.Text(), nullable=False),
        sa.Column("ask", sa.Text(), nullable=False),
        sa.Column("exceeded", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_role", sa.String(length=12), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("promise_ids", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_offer_requests_status", "offer_requests", ["status", "requested_at"])
    op.create_index("ix_offer_requests_customer_id", "offer_requests", ["customer_id"])
    op.create_index("ix_offer_requests_agent", "offer_requests", ["agent"])


def downgrade() -> None:
    op.drop_index("ix_offer_requests_agent", table_name="offer_requests")
    op.drop_index("ix_offer_requests_customer_id", table_name="offer_requests")
    op.drop_index("ix_offer_requests_status", table_name="offer_requests")
    op.drop_table("offer_requests")
