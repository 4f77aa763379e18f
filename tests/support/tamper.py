"""Rewriting the ledger the way an attacker with the database's credentials would.

Plain SQL and the chain's own hash function, nothing of the product's write
path. On PostgreSQL the append-only trigger (migration 0012) refuses UPDATE
and DELETE on ``contact_events`` unless the table's owner opens it for its
transaction: the tests connect as the owner (the superuser), as an attacker
holding the owner's (or a single-role deployment's) credentials would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.ledger.chain import GENESIS, chain_rows, link_hash


@contextmanager
def ledger_opened(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the owner may UPDATE and DELETE ledger rows (PostgreSQL)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL cadencia.ledger_maintenance = 'on'")
        yield conn


def rehash_everything(conn: Connection) -> None:
    """Recompute every row's ``prev_hash`` and ``hash`` in id order, then the head."""
    prev_hash, count, last_id = GENESIS, 0, 0
    for row in list(chain_rows(conn)):
        new_hash = link_hash(prev_hash, dict(row))
        conn.execute(
            sa.text("UPDATE contact_events SET prev_hash = :p, hash = :h WHERE id = :i"),
            {"p": prev_hash, "h": new_hash, "i": row["id"]},
        )
        prev_hash, count, last_id = new_hash, count + 1, row["id"]
    conn.execute(
        sa.text(
            "UPDATE ledger_head SET last_event_id = :i, last_hash = :h, events = :n WHERE id = 1"
        ),
        {"i": last_id, "h": prev_hash, "n": count},
    )


def rewrite_row(engine: Engine, event_id: int, outcome: str) -> None:
    """Change one row's outcome and recompute every later hash and the head."""
    with ledger_opened(engine) as conn:
        conn.execute(
            sa.text("UPDATE contact_events SET outcome = :o WHERE id = :i"),
            {"o": outcome, "i": event_id},
        )
        rehash_everything(conn)


def cut_tail(engine: Engine, from_id: int) -> None:
    """Delete the rows from ``from_id`` on and point the head at the row before."""
    with ledger_opened(engine) as conn:
        conn.execute(sa.text("DELETE FROM contact_events WHERE id >= :i"), {"i": from_id})
        rehash_everything(conn)
