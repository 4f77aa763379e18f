"""failed console logins, for throttling password guessing

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 06:40:00

One row per failed login, kept for the throttling window: by username (an
account being guessed) and by client address (one client guessing many
accounts). Shared through the database, so every console process sees the
same counts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("web_login_failures")
