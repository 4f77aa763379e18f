"""Many rows into one table: one ``COPY`` on PostgreSQL, ``executemany`` elsewhere.

SQLAlchemy's ``executemany`` processes every row's parameters in Python and
psycopg sends them as pipelined INSERTs: for a day's plan (hundreds of
thousands of planned contacts and run customers) that cost seconds of CPU on
both sides. ``COPY … FROM STDIN`` streams the same rows in one statement.
Rows go in in the order given, so a serial id follows it as with INSERTs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, a subset of ``table``'s columns), in order."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), list(rows))
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
