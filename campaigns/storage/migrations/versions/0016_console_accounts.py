"""console accounts: atomic login throttling, the admin log, the sessions' last use

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-13 12:00:00

``web_login_throttle`` replaces ``web_login_failures``: one counter row per
account and per client address, changed by single atomic statements (a row per
failure was counted before the password check and written after it, so parallel
guesses shared one count). ``web_admin_log`` records every admin action on an
account. ``web_sessions.last_seen_at`` carries the idle timeout (NULL: the
session's creation).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login_throttle",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_allowed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "web_admin_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_admin_log_at", "web_admin_log", ["at"])
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_table("web_login_failures")


def downgrade() -> None:
    op.create_table(
        "web_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_login_failures_username_at", "web_login_failures", ["username", "at"])
    op.create_index("ix_web_login_failures_client_at", "web_login_failures", ["client", "at"])
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("last_seen_at")
    op.drop_table("web_admin_log")
    op.drop_table("web_login_throttle")
