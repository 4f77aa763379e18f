"""Loading a validated portfolio: staging tables, then set-based upserts, one transaction.

Row-by-row ORM inserts manage a few thousand rows a second; a million-customer
file needs bulk paths. Rows go into temporary staging tables (PostgreSQL:
``COPY``; SQLite: ``executemany``), then a handful of ``INSERT … SELECT …
ON CONFLICT`` statements merge them. Either every statement commits or none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.ledger.chain import POINT_EVENT_CHANNEL, LedgerEntry, append, lock_ledger
from campaigns.portfolio.rows import ValidatedPortfolio
from campaigns.portfolio.search import fold
from campaigns.storage.models import Customer, UtcDateTime

STAGING_DDL = {
    "stage_customers": "external_id VARCHAR(64) PRIMARY KEY, name VARCHAR(200), country VARCHAR(2),"
    " subdivision VARCHAR(6), timezones VARCHAR(200), language VARCHAR(5),"
    " behavior_score INTEGER, segment VARCHAR(40), name_folded VARCHAR(200)",
    "stage_accounts": "external_id VARCHAR(64) PRIMARY KEY, customer_external_id VARCHAR(64),"
    " product VARCHAR(20), balance NUMERIC(14,2), currency VARCHAR(3), days_past_due INTEGER,"
    " minimum_due NUMERIC(14,2), status VARCHAR(10), opened_on DATE",
    "stage_points": "customer_external_id VARCHAR(64), kind VARCHAR(5), value VARCHAR(254),"
    " line_type VARCHAR(10), position SMALLINT, consent VARCHAR(10), consent_at {ts},"
    " consent_source VARCHAR(80), opted_out BOOLEAN",
}
STAGING_COLUMNS = {
    "stage_customers": "external_id, name, country, subdivision, timezones, language,"
    " behavior_score, segment, name_folded",
    "stage_accounts": "external_id, customer_external_id, product, balance, currency,"
    " days_past_due, minimum_due, status, opened_on",
    "stage_points": "customer_external_id, kind, value, line_type, position, consent, consent_at,"
    " consent_source, opted_out",
}

UPSERT_CUSTOMERS = """
INSERT INTO customers (external_id, name, country, subdivision, timezones, language,
                       behavior_score, segment, name_folded, updated_at)
SELECT external_id, name, country, subdivision, timezones, language, behavior_score, segment,
       name_folded, :now
FROM stage_customers WHERE true
ON CONFLICT (external_id) DO UPDATE SET
  name = excluded.name, name_folded = excluded.name_folded, country = excluded.country,
  subdivision = excluded.subdivision, timezones = excluded.timezones, language = excluded.language,
  behavior_score = excluded.behavior_score, segment = excluded.segment,
  updated_at = excluded.updated_at
WHERE (customers.name, customers.country, customers.subdivision, customers.timezones,
       customers.language, customers.behavior_score, customers.segment)
  IS DISTINCT FROM (excluded.name, excluded.country, excluded.subdivision, excluded.timezones,
                    excluded.language, excluded.behavior_score, excluded.segment)
"""
UPSERT_ACCOUNTS = """
INSERT INTO accounts (external_id, customer_id, product, balance, currency, days_past_due,
                      minimum_due, status, opened_on, updated_at)
SELECT s.external_id, c.id, s.product, s.balance, s.currency, s.days_past_due, s.minimum_due,
       s.status, s.opened_on, :now
FROM stage_accounts s JOIN customers c ON c.external_id = s.customer_external_id WHERE true
ON CONFLICT (external_id) DO UPDATE SET
  customer_id = excluded.customer_id, product = excluded.product, balance = excluded.balance,
  currency = excluded.currency, days_past_due = excluded.days_past_due,
  minimum_due = excluded.minimum_due, status = excluded.status, opened_on = excluded.opened_on,
  updated_at = excluded.updated_at
"""
# Consent: a blank ("unknown") cell keeps what we already know, and an opt-out
# is sticky: the bank's next file must not silently re-enable a debtor who
# replied STOP or sent a cease letter.
UPSERT_POINTS = """
INSERT INTO contact_points (customer_id, kind, value, line_type, position, consent, consent_at,
                            consent_source, opted_out_at)
SELECT c.id, s.kind, s.value, s.line_type, s.position, s.consent, s.consent_at, s.consent_source,
       CASE WHEN s.opted_out THEN COALESCE(s.consent_at, :now) END
FROM stage_points s JOIN customers c ON c.external_id = s.customer_external_id WHERE true
ON CONFLICT (customer_id, kind, value) DO UPDATE SET
  line_type = excluded.line_type, position = excluded.position,
  consent = CASE WHEN contact_points.opted_out_at IS NOT NULL THEN contact_points.consent
                 WHEN excluded.consent = 'unknown' THEN contact_points.consent
                 ELSE excluded.consent END,
  consent_at = CASE WHEN excluded.consent = 'unknown' THEN contact_points.consent_at
                    ELSE COALESCE(excluded.consent_at, contact_points.consent_at) END,
  consent_source = COALESCE(excluded.consent_source, contact_points.consent_source),
  opted_out_at = COALESCE(contact_points.opted_out_at, excluded.opted_out_at),
  retired_at = NULL
"""
# A full file that no longer lists one of a customer's numbers or emails (the
# customer changed it, or it was never theirs) retires it: kept for the ledger and
# the audit, never contacted again. The file listing it again (above) clears it.
RETIRE_ABSENT_POINTS = """
UPDATE contact_points SET retired_at = :now
WHERE retired_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM stage_points s JOIN customers c
                  ON c.external_id = s.customer_external_id
                  WHERE c.id = contact_points.customer_id AND s.kind = contact_points.kind
                    AND s.value = contact_points.value)
RETURNING id, customer_id, kind, value, line_type
"""
# Retired points the file lists again, read before UPSERT_POINTS clears their mark.
RETIRED_LISTED_POINTS = """
SELECT DISTINCT t.id, c.external_id, t.kind, t.value, t.line_type, t.retired_at
FROM stage_points s JOIN customers c ON c.external_id = s.customer_external_id
JOIN contact_points t ON t.customer_id = c.id AND t.kind = s.kind AND t.value = s.value
WHERE t.retired_at IS NOT NULL
ORDER BY t.id
"""
CLOSE_ABSENT_ACCOUNTS = """
UPDATE accounts SET status = 'closed', updated_at = :now
WHERE status = 'open'
  AND NOT EXISTS (SELECT 1 FROM stage_accounts s WHERE s.external_id = accounts.external_id)
"""


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; printed by ``cadencia portfolio import --json``."""

    customers: int
    accounts: int
    contact_points: int
    customers_created: int
    customers_updated: int
    accounts_created: int
    accounts_updated: int
    accounts_closed: int
    contact_points_created: int
    contact_points_updated: int
    contact_points_retired: int = 0

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready mapping."""
        return asdict(self)


def _count_existing(conn: Connection, stage: str, target: str, join: str) -> int:
    sql = f"SELECT count(*) FROM {stage} s WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
    return int(conn.execute(sa.text(sql)).scalar_one())


def _sqlite_value(value: Any) -> Any:
    """SQLite binds neither Decimal nor aware datetimes; store what SQLAlchemy would."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # Decimal


def _fill_stage(conn: Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    columns = STAGING_COLUMNS[table]
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns.split(",")))
    cur = raw.cursor()
    try:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= 20_000:
                cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)
                batch.clear()
        if batch:
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)
    finally:
        cur.close()


def _create_stages(conn: Connection) -> None:
    timestamp = "TIMESTAMPTZ" if conn.dialect.name == "postgresql" else "DATETIME"
    for table, ddl in STAGING_DDL.items():
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE {table} ({ddl.format(ts=timestamp)})"))


def load_portfolio(
    engine: Engine,
    portfolio: ValidatedPortfolio,
    *,
    now: dt.datetime,
    full_refresh: bool = False,
) -> ImportSummary:
    """Merge a validated portfolio into the database in one transaction.

    Raises ``ValueError`` if ``portfolio`` carries errors: a rejected file must
    never reach the database. ``full_refresh`` (the file is the bank's whole
    portfolio) closes open accounts the file does not list (the bank stopped
    assigning them) and retires the contact points it no longer lists. Each
    retirement, and each retired point a file lists again, is a ledger event
    (``retired``, ``relisted``) in the same transaction.
    """
    if portfolio.errors:
        raise ValueError(f"{portfolio.file}: {len(portfolio.errors)} errors; nothing loaded")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The merges are hash joins of millions of staged rows against the
            # tables; at the default 4 MB they spill to disk many times over.
            conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        _stage(conn, portfolio)
        existing = _existing_rows(conn)
        closed, retired = _merge(conn, now, full_refresh, file=portfolio.file)
        _drop_stages_and_analyze(conn)
    return _summary(portfolio, existing, closed, retired)


def _stage(conn: Connection, portfolio: ValidatedPortfolio) -> None:
    """Fill the staging tables with the file's rows and prepare them for the joins."""
    _create_stages(conn)
    # with each name folded for searches (customers.name_folded, migration 0017)
    _fill_stage(conn, "stage_customers", ((*c, fold(c.name)[:200]) for c in portfolio.customers))
    _fill_stage(conn, "stage_accounts", portfolio.accounts)
    _fill_stage(conn, "stage_points", portfolio.contact_points)
    if conn.dialect.name == "postgresql":
        for table in STAGING_DDL:
            conn.execute(sa.text(f"ANALYZE {table}"))
    else:
        conn.execute(
            sa.text("CREATE INDEX stage_points_cid ON stage_points (customer_external_id)")
        )


@dataclass(frozen=True)
class _Existing:
    """How many staged rows were already in the database, before the merge."""

    customers: int
    accounts: int
    contact_points: int


def _existing_rows(conn: Connection) -> _Existing:
    """Count the staged customers, accounts and contact points the database already has."""
    customers = _count_existing(
        conn, "stage_customers", "customers", "t.external_id = s.external_id"
    )
    accounts = _count_existing(conn, "stage_accounts", "accounts", "t.external_id = s.external_id")
    points = int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM stage_points s JOIN customers c"
                " ON c.external_id = s.customer_external_id JOIN contact_points t"
                " ON t.customer_id = c.id AND t.kind = s.kind AND t.value = s.value"
            )
        ).scalar_one()
    )
    return _Existing(customers, accounts, points)


def _merge(conn: Connection, now: dt.datetime, full_refresh: bool, *, file: str) -> tuple[int, int]:
    """Upsert the staged rows; returns how many absent accounts were closed and absent
    contact points retired (both 0 unless a full refresh).

    The contact points' changes go into the ledger: the ledger lock is taken
    before the points are touched, in the order the webhooks take them (ledger,
    then points), so an opt-out arriving meanwhile waits instead of deadlocking.
    """
    now_param = sa.bindparam("now", value=now, type_=UtcDateTime)
    conn.execute(sa.text(UPSERT_CUSTOMERS).bindparams(now_param))
    conn.execute(sa.text(UPSERT_ACCOUNTS).bindparams(now_param))
    lock_ledger(conn)
    relisted = list(conn.execute(sa.text(RETIRED_LISTED_POINTS).columns(retired_at=UtcDateTime)))
    conn.execute(sa.text(UPSERT_POINTS).bindparams(now_param))
    closed = retired = 0
    retired_rows: list[Any] = []
    if full_refresh:
        closed = conn.execute(sa.text(CLOSE_ABSENT_ACCOUNTS).bindparams(now_param)).rowcount
        retired_rows = sorted(
            conn.execute(sa.text(RETIRE_ABSENT_POINTS).bindparams(now_param)), key=lambda r: r.id
        )
        retired = len(retired_rows)
    entries = [_point_entry("relisted", r, r.external_id, file, now) for r in relisted]
    owners = _external_ids(conn, {int(r.customer_id) for r in retired_rows})
    entries += [
        _point_entry("retired", r, owners[int(r.customer_id)], file, now) for r in retired_rows
    ]
    append(conn, entries, now=now)
    return closed, retired


def _external_ids(conn: Connection, customer_pks: set[int]) -> dict[int, str]:
    """The customers' external ids by primary key."""
    found: dict[int, str] = {}
    wanted = sorted(customer_pks)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            sa.select(Customer.id, Customer.external_id).where(Customer.id.in_(chunk))
        )
        found.update({int(pk): str(external) for pk, external in rows})
    return found


def _point_entry(
    kind: str, point: Any, customer_id: str, file: str, now: dt.datetime
) -> LedgerEntry:
    """The ledger event of one contact point the bank's file retired or listed again.

    Not a contact (``NOT_CONTACTS``): the rules and the audit never count it.
    A relisting names the retirement it ends (``extra.retired_at``).
    """
    extra: dict[str, Any] = {"point": point.kind, "file": Path(file).name}
    if kind == "relisted":
        extra["retired_at"] = point.retired_at.astimezone(dt.UTC).isoformat()
    return LedgerEntry(
        at=now,
        customer_id=customer_id,
        debt_ids=(),
        channel=POINT_EVENT_CHANNEL,
        direction="inbound",
        kind=kind,
        contact_point=point.value,
        line_type=point.line_type,
        extra=extra,
        idempotency_key=f"portfolio:{kind}:{int(point.id)}:{now.astimezone(dt.UTC).isoformat()}",
    )


def _drop_stages_and_analyze(conn: Connection) -> None:
    """Drop the staging tables, then refresh the merged tables' statistics (PostgreSQL)."""
    for table in STAGING_DDL:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    if conn.dialect.name == "postgresql":
        # The day's run usually starts right after the import, before
        # autovacuum (if it runs at all) has looked at the new rows: without
        # statistics the planner takes a batch's 500 customers for a handful
        # and joins them to a sequential scan of every contact point (60 ms
        # instead of 3 ms per lookup at 150,000 debtors, growing with the file).
        for table in ("customers", "accounts", "contact_points"):
            conn.execute(sa.text(f"ANALYZE {table}"))


def _summary(
    portfolio: ValidatedPortfolio, existing: _Existing, closed: int, retired: int
) -> ImportSummary:
    """The import's counts: rows already present were updated, the rest created."""
    n_customers, n_accounts = len(portfolio.customers), len(portfolio.accounts)
    n_points = len(portfolio.contact_points)
    return ImportSummary(
        customers=n_customers,
        accounts=n_accounts,
        contact_points=n_points,
        customers_created=n_customers - existing.customers,
        customers_updated=existing.customers,
        accounts_created=n_accounts - existing.accounts,
        accounts_updated=existing.accounts,
        accounts_closed=closed,
        contact_points_created=n_points - existing.contact_points,
        contact_points_updated=existing.contact_points,
        contact_points_retired=retired,
    )


def table_counts(
    engine: Engine, tables: Iterable[str] = ("customers", "accounts", "contact_points")
) -> dict[str, int]:
    """Row counts per table (used by tests and the CLI to show nothing changed)."""
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }
