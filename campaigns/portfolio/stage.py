"""Staging tables: a portfolio's rows on their way into the real tables.

Rows are appended chunk by chunk (PostgreSQL: ``COPY``; SQLite: ``executemany``)
into temporary tables of the import's own transaction, so a rejected file
leaves nothing behind: the transaction rolls back and the tables vanish.
The staged rows are tuples in ``STAGING_COLUMNS`` order (the customer's folded
name, then the line of the customer's row they came from), or that text already
in ``COPY`` format (``copy_text``), which is what the validation workers hand back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

STAGING_DDL = {
    "stage_customers": "external_id VARCHAR(64), name VARCHAR(200), country VARCHAR(2),"
    " subdivision VARCHAR(6), timezones VARCHAR(200), language VARCHAR(5),"
    " behavior_score INTEGER, segment VARCHAR(40), name_folded VARCHAR(200), line INTEGER",
    "stage_accounts": "external_id VARCHAR(64), customer_external_id VARCHAR(64),"
    " product VARCHAR(20), balance NUMERIC(14,2), currency VARCHAR(3), days_past_due INTEGER,"
    " minimum_due NUMERIC(14,2), status VARCHAR(10), opened_on DATE",
    "stage_points": "customer_external_id VARCHAR(64), kind VARCHAR(5), value VARCHAR(254),"
    " line_type VARCHAR(10), position SMALLINT, consent VARCHAR(10), consent_at {ts},"
    " consent_source VARCHAR(80), opted_out BOOLEAN, line INTEGER",
}
STAGING_COLUMNS = {
    "stage_customers": "external_id, name, country, subdivision, timezones, language,"
    " behavior_score, segment, name_folded, line",
    "stage_accounts": "external_id, customer_external_id, product, balance, currency,"
    " days_past_due, minimum_due, status, opened_on",
    "stage_points": "customer_external_id, kind, value, line_type, position, consent, consent_at,"
    " consent_source, opted_out, line",
}
# The joins of the merge, for SQLite (PostgreSQL hash-joins the staged rows).
SQLITE_STAGE_INDEXES = (
    "CREATE INDEX stage_customers_eid ON stage_customers (external_id)",
    "CREATE INDEX stage_accounts_eid ON stage_accounts (external_id)",
    "CREATE INDEX stage_points_cid ON stage_points (customer_external_id, kind, value)",
)
SQLITE_BATCH = 20_000


def create_stages(conn: Connection) -> None:
    """Create the empty staging tables (temporary: they live as long as the session)."""
    timestamp = "TIMESTAMPTZ" if conn.dialect.name == "postgresql" else "DATETIME"
    for table, ddl in STAGING_DDL.items():
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE {table} ({ddl.format(ts=timestamp)})"))


def sqlite_value(value: Any) -> Any:
    """SQLite binds neither Decimal nor aware datetimes; store what SQLAlchemy would."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # Decimal


def copy_text(rows: Iterable[Sequence[Any]]) -> bytes:
    """``rows`` in PostgreSQL's ``COPY`` text format (built in the validation workers,
    so the parent only passes bytes on)."""
    lines = ["\t".join([_copy_field(v) for v in row]) for row in rows]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return (
                value.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return value
    return str(value)  # int, Decimal, date, aware datetime: PostgreSQL reads str()


def fill_stage(conn: Connection, table: str, rows: Iterable[Sequence[Any]] | bytes) -> None:
    """Append ``rows`` (tuples, or ``copy_text`` bytes on PostgreSQL) to ``table``."""
    columns = STAGING_COLUMNS[table]
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            if isinstance(rows, bytes):
                copy.write(rows)
            else:
                for row in rows:
                    copy.write_row(row)
        return
    assert not isinstance(rows, bytes)
    marks = ", ".join("?" * len(columns.split(",")))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    cur = raw.cursor()
    try:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(sqlite_value(v) for v in row))
            if len(batch) >= SQLITE_BATCH:
                cur.executemany(sql, batch)
                batch.clear()
        if batch:
            cur.executemany(sql, batch)
    finally:
        cur.close()


def prepare_stages(conn: Connection) -> None:
    """Once every chunk is in: statistics (PostgreSQL) or indexes (SQLite) for the merge."""
    if conn.dialect.name == "postgresql":
        for table in STAGING_DDL:
            conn.execute(sa.text(f"ANALYZE {table}"))
    else:
        for ddl in SQLITE_STAGE_INDEXES:
            conn.execute(sa.text(ddl))


def drop_stages(conn: Connection) -> None:
    """Drop the staging tables (the merge is done)."""
    for table in STAGING_DDL:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))


def drop_repeats(conn: Connection, repeats: list[tuple[str, int]]) -> tuple[int, int]:
    """Unstage the customers (and their points) of the rows ``(customer id, line)`` whose
    customer an earlier chunk already had; returns how many customers and points."""
    if not repeats:
        return 0, 0
    conn.execute(sa.text("DROP TABLE IF EXISTS stage_repeats"))
    conn.execute(
        sa.text("CREATE TEMPORARY TABLE stage_repeats (external_id VARCHAR(64), line INTEGER)")
    )
    conn.execute(
        sa.text("INSERT INTO stage_repeats (external_id, line) VALUES (:e, :l)"),
        [{"e": cid, "l": line} for cid, line in repeats],
    )
    counts = []
    for table, key in (
        ("stage_customers", "external_id"),
        ("stage_points", "customer_external_id"),
    ):
        deleted = conn.execute(
            sa.text(
                f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM stage_repeats r"
                f" WHERE r.external_id = {table}.{key} AND r.line = {table}.line)"
            )
        )
        counts.append(deleted.rowcount)
    conn.execute(sa.text("DROP TABLE stage_repeats"))
    return counts[0], counts[1]
