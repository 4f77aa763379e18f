"""customers.name_folded: the name lower-cased without accents, for searches

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14 12:00:00

A compliance officer (and an agent) types ``nunez`` for Núñez. SQLite has no
``translate`` and its ``lower`` folds ASCII only, so folding in SQL differs
between the two databases; the name folded once, in Python
(``campaigns.portfolio.search.fold``), searches the same on both. The
portfolio loader fills it for every customer it writes; this migration fills
it for the customers already loaded, in batches.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None
BATCH = 5_000


def _fold(text: str) -> str:
    """As ``campaigns.portfolio.search.fold`` does today (a migration must not change later)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("name_folded", sa.String(length=200), nullable=False, server_default="")
        )
    conn = op.get_bind()
    customers = sa.table(
        "customers", sa.column("id", sa.Integer), sa.column("name"), sa.column("name_folded")
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(customers.c.id, customers.c.name)
            .where(customers.c.id > last)
            .order_by(customers.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            sa.update(customers)
            .where(customers.c.id == sa.bindparam("row_id"))
            .values(name_folded=sa.bindparam("folded")),
            [{"row_id": r.id, "folded": _fold(r.name)[:200]} for r in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column in place (3.35+); a batch copy of the table would
        # drop ``customers`` under the accounts' foreign keys, which SQLite refuses.
        op.execute("ALTER TABLE customers DROP COLUMN name_folded")
    else:
        op.drop_column("customers", "name_folded")
