"""the debtor portal: portal_links, portal_uses, contact_preferences; a wider ledger channel

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 12:00:00

A message's link is now an opaque random reference whose claims stay in the
database (``portal_links``: customer, campaign, expiry, revocation, the
identity check's failures and lock); every request on a reference is a
``portal_uses`` row; a customer's preferred channel and hours are kept in
``contact_preferences``. ``contact_events.channel`` grows from 10 to 16
characters for the portal's channel, ``self_service``: on PostgreSQL a
varchar widening rewrites no row (the append-only trigger is not involved);
SQLite never enforced the length, but its declared type follows the model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_links",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("reference", sa.String(length=64), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=80), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.SmallInteger(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_portal_links_customer_campaign", "portal_links", ["customer_id", "campaign"]
    )
    op.create_table(
        "portal_uses",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("link_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_portal_uses_link_id", "portal_uses", ["link_id"])
    op.create_table(
        "contact_preferences",
        sa.Column("customer_id", sa.String(length=64), primary_key=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("hour_from", sa.SmallInteger(), nullable=False),
        sa.Column("hour_to", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
    )
    _channel_width(16)


def downgrade() -> None:
    _channel_width(10)
    op.drop_table("contact_preferences")
    op.drop_index("ix_portal_uses_link_id", table_name="portal_uses")
    op.drop_table("portal_uses")
    op.drop_index("ix_portal_links_customer_campaign", table_name="portal_links")
    op.drop_table("portal_links")


def _channel_width(width: int) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("contact_events", "channel", type_=sa.String(length=width))
        return
    # SQLite: batch mode rebuilds the table with the new declared type.
    with op.batch_alter_table("contact_events") as batch:
        batch.alter_column("channel", type_=sa.String(length=width))
