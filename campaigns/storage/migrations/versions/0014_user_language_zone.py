"""web_users.language and web_users.timezone: the console's language and time zone per user

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 12:00:00

The console speaks Spanish, English or Portuguese (``cadencia.console.i18n``)
and shows times in the viewer's zone. Both are chosen by the user (at login
or on the profile page); NULL means "not chosen": the browser's
Accept-Language, then English, and UTC.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.drop_column("timezone")
        batch.drop_column("language")
