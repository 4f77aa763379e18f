"""web console accounts, sessions and callbacks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("agent_id", sa.String(length=80), nullable=True),
        sa.Column("queue_interface", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("agent_id"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "web_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("campaign", sa.String(length=80), nullable=True),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_callbacks_customer_id", "web_callbacks", ["customer_id"])
    op.create_table(
        "web_dispositions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("campaign", sa.String(length=80), nullable=True),
        sa.Column("party", sa.String(length=12), nullable=False),
        sa.Column("result", sa.String(length=12), nullable=False),
        sa.Column("promise_id", sa.Integer(), nullable=True),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_dispositions_customer_id", "web_dispositions", ["customer_id"])
    op.create_index("ix_web_dispositions_agent", "web_dispositions", ["agent"])


def downgrade() -> None:
    op.drop_index("ix_web_dispositions_agent", table_name="web_dispositions")
    op.drop_index("ix_web_dispositions_customer_id", table_name="web_dispositions")
    op.drop_table("web_dispositions")
    op.drop_index("ix_web_callbacks_customer_id", table_name="web_callbacks")
    op.drop_table("web_callbacks")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_users")
