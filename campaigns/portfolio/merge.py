"""Merging the staged rows into customers, accounts and contact points.

New rows are plain ``INSERT … SELECT`` (no conflict handling: the anti-join has
already left out what exists), in the order of their unique key, so the indexes
and the foreign-key checks walk their B-trees in order instead of at random;
existing rows are ``UPDATE … FROM`` the staging tables. The contact points'
changes go into the ledger (``retired``, ``relisted``) under the ledger lock,
which is taken last and held briefly: the heavy joins (which points changed,
which the file no longer lists) run before it into small temporary tables, and
only those rows are touched under the lock. Webhooks take the same lock before
a point (an opt-out), so taking it before touching any existing point keeps the
order the rest of the code uses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.chain import POINT_EVENT_CHANNEL, LedgerEntry, append, lock_ledger
from campaigns.storage.models import Customer, UtcDateTime

CUSTOMER_FIELDS = "name, country, subdivision, timezones, language, behavior_score, segment"
UPDATE_CUSTOMERS = """
UPDATE customers SET name = s.name, name_folded = s.name_folded, country = s.country,
  subdivision = s.subdivision, timezones = s.timezones, language = s.language,
  behavior_score = s.behavior_score, segment = s.segment, updated_at = :now
FROM stage_customers s
WHERE customers.external_id = s.external_id
  AND (customers.name, customers.country, customers.subdivision, customers.timezones,
       customers.language, customers.behavior_score, customers.segment)
  IS DISTINCT FROM (s.name, s.country, s.subdivision, s.timezones, s.language,
                    s.behavior_score, s.segment)
"""
INSERT_CUSTOMERS = f"""
INSERT INTO customers (external_id, {CUSTOMER_FIELDS}, name_folded, updated_at)
SELECT s.external_id, s.name, s.country, s.subdivision, s.timezones, s.language,
       s.behavior_score, s.segment, s.name_folded, :now
FROM stage_customers s
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.external_id = s.external_id)
ORDER BY s.external_id
"""
UPDATE_ACCOUNTS = """
UPDATE accounts SET customer_id = c.id, product = s.product, balance = s.balance,
  currency = s.currency, days_past_due = s.days_past_due, minimum_due = s.minimum_due,
  status = s.status, opened_on = s.opened_on, updated_at = :now
FROM stage_accounts s JOIN customers c ON c.external_id = s.customer_external_id
WHERE accounts.external_id = s.external_id
"""
INSERT_ACCOUNTS = """
INSERT INTO accounts (external_id, customer_id, product, balance, currency, days_past_due,
                      minimum_due, status, opened_on, updated_at)
SELECT s.external_id, c.id, s.product, s.balance, s.currency, s.days_past_due, s.minimum_due,
       s.status, s.opened_on, :now
FROM stage_accounts s JOIN customers c ON c.external_id = s.customer_external_id
WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.external_id = s.external_id)
ORDER BY s.external_id
"""
CLOSE_ABSENT_ACCOUNTS = """
UPDATE accounts SET status = 'closed', updated_at = :now
WHERE status = 'open'
  AND NOT EXISTS (SELECT 1 FROM stage_accounts s WHERE s.external_id = accounts.external_id)
"""
STAGED_POINTS = """
FROM stage_points s JOIN customers c ON c.external_id = s.customer_external_id
"""
INSERT_POINTS = f"""
INSERT INTO contact_points (customer_id, kind, value, line_type, position, consent, consent_at,
                            consent_source, opted_out_at)
SELECT c.id, s.kind, s.value, s.line_type, s.position, s.consent, s.consent_at, s.consent_source,
       CASE WHEN s.opted_out THEN COALESCE(s.consent_at, :now) END
{STAGED_POINTS}
WHERE NOT EXISTS (SELECT 1 FROM contact_points t
                  WHERE t.customer_id = c.id AND t.kind = s.kind AND t.value = s.value)
ORDER BY c.id, s.kind, s.value
"""
# Consent: a blank ("unknown") cell keeps what we already know, and an opt-out
# is sticky: the bank's next file must not silently re-enable a debtor who
# replied STOP or sent a cease letter. ``t`` is the point as stored, ``p`` the file's.
POINT_CONSENT = """CASE WHEN t.opted_out_at IS NOT NULL THEN t.consent
  WHEN p.consent = 'unknown' THEN t.consent ELSE p.consent END"""
POINT_CONSENT_AT = """CASE WHEN p.consent = 'unknown' THEN t.consent_at
  ELSE COALESCE(p.consent_at, t.consent_at) END"""
# Existing points whose merge would change something: found without the lock.
POINT_CHANGES = f"""
INSERT INTO point_changes (id, line_type, position, consent, consent_at, consent_source,
                           opted_out_at)
SELECT t.id, p.line_type, p.position, p.consent, p.consent_at, p.consent_source, p.opted_out_at
FROM (SELECT c.id AS customer_id, s.kind, s.value, s.line_type, s.position, s.consent,
             s.consent_at, s.consent_source,
             CASE WHEN s.opted_out THEN COALESCE(s.consent_at, :now) END AS opted_out_at
      {STAGED_POINTS}) p
JOIN contact_points t ON t.customer_id = p.customer_id AND t.kind = p.kind AND t.value = p.value
WHERE (t.line_type, t.position, t.consent, t.consent_at, t.consent_source, t.opted_out_at,
       t.retired_at)
  IS DISTINCT FROM (p.line_type, p.position, {POINT_CONSENT}, {POINT_CONSENT_AT},
                    COALESCE(p.consent_source, t.consent_source),
                    COALESCE(t.opted_out_at, p.opted_out_at), NULL)
"""
# Under the lock, with the row as it is now (an opt-out may have landed meanwhile).
APPLY_POINT_CHANGES = f"""
UPDATE contact_points AS t SET line_type = p.line_type, position = p.position,
  consent = {POINT_CONSENT}, consent_at = {POINT_CONSENT_AT},
  consent_source = COALESCE(p.consent_source, t.consent_source),
  opted_out_at = COALESCE(t.opted_out_at, p.opted_out_at), retired_at = NULL
FROM point_changes p WHERE t.id = p.id
"""
# Retired points the file lists again, read before APPLY_POINT_CHANGES clears their mark.
RETIRED_LISTED_POINTS = """
SELECT t.id, c.external_id, t.kind, t.value, t.line_type, t.retired_at
FROM point_changes p JOIN contact_points t ON t.id = p.id JOIN customers c ON c.id = t.customer_id
WHERE t.retired_at IS NOT NULL
ORDER BY t.id
"""
# A full file that no longer lists one of a customer's numbers or emails (the
# customer changed it, or it was never theirs) retires it: kept for the ledger and
# the audit, never contacted again. The file listing it again (above) clears it.
ABSENT_POINTS = f"""
INSERT INTO point_absent (id)
SELECT t.id FROM contact_points t
WHERE t.retired_at IS NULL
  AND NOT EXISTS (SELECT 1 {STAGED_POINTS}
                  WHERE c.id = t.customer_id AND s.kind = t.kind AND s.value = t.value)
"""
# Parameters are not allowed in CREATE TABLE … AS, so these are made empty first.
WORK_TABLES = {
    "point_changes": "id BIGINT PRIMARY KEY, line_type VARCHAR(10), position SMALLINT,"
    " consent VARCHAR(10), consent_at {ts}, consent_source VARCHAR(80), opted_out_at {ts}",
    "point_absent": "id BIGINT PRIMARY KEY",
}
RETIRE_ABSENT_POINTS = """
UPDATE contact_points SET retired_at = :now
WHERE retired_at IS NULL AND id IN (SELECT id FROM point_absent)
RETURNING id, customer_id, kind, value, line_type
"""


@dataclass(frozen=True)
class Merged:
    """What the merge created, closed and retired."""

    customers_created: int
    accounts_created: int
    contact_points_created: int
    accounts_closed: int
    contact_points_retired: int


def merge_staged(conn: Connection, now: dt.datetime, full_refresh: bool, *, file: str) -> Merged:
    """Merge the staging tables into the real ones and write the points' ledger events."""
    if conn.dialect.name == "postgresql":
        # The merges are hash joins of millions of staged rows against the
        # tables; at the default 4 MB they spill to disk many times over.
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    now_param = sa.bindparam("now", value=now, type_=UtcDateTime)

    def run(sql: str) -> Any:
        statement = sa.text(sql)
        if ":now" in sql:
            statement = statement.bindparams(now_param)
        return conn.execute(statement)

    run(UPDATE_CUSTOMERS)
    customers = run(INSERT_CUSTOMERS).rowcount
    run(UPDATE_ACCOUNTS)
    accounts = run(INSERT_ACCOUNTS).rowcount
    closed = run(CLOSE_ABSENT_ACCOUNTS).rowcount if full_refresh else 0
    timestamp = "TIMESTAMPTZ" if conn.dialect.name == "postgresql" else "DATETIME"
    for table, ddl in WORK_TABLES.items():
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE {table} ({ddl.format(ts=timestamp)})"))
    # Before the new points go in: they are neither changed nor absent, and on a
    # first load these joins then meet an empty table instead of millions of rows.
    run(POINT_CHANGES)
    if full_refresh:
        run(ABSENT_POINTS)
    points = run(INSERT_POINTS).rowcount
    retired = _points_under_lock(conn, now, full_refresh, file)
    for table in WORK_TABLES:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    return Merged(customers, accounts, points, closed, retired)


def _points_under_lock(conn: Connection, now: dt.datetime, full_refresh: bool, file: str) -> int:
    """Apply the points' changes and retirements and write their events; returns retired."""
    now_param = sa.bindparam("now", value=now, type_=UtcDateTime)
    lock_ledger(conn)
    relisted = list(conn.execute(sa.text(RETIRED_LISTED_POINTS).columns(retired_at=UtcDateTime)))
    conn.execute(sa.text(APPLY_POINT_CHANGES))
    retired_rows: list[Any] = []
    if full_refresh:
        retired_rows = sorted(
            conn.execute(sa.text(RETIRE_ABSENT_POINTS).bindparams(now_param)), key=lambda r: r.id
        )
    entries = [_point_entry("relisted", r, r.external_id, file, now) for r in relisted]
    owners = _external_ids(conn, {int(r.customer_id) for r in retired_rows})
    entries += [
        _point_entry("retired", r, owners[int(r.customer_id)], file, now) for r in retired_rows
    ]
    append(conn, entries, now=now)
    return len(retired_rows)


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


def analyze_merged(conn: Connection) -> None:
    """Refresh the merged tables' statistics (PostgreSQL).

    The day's run usually starts right after the import, before autovacuum (if
    it runs at all) has looked at the new rows: without statistics the planner
    takes a batch's 500 customers for a handful and joins them to a sequential
    scan of every contact point (60 ms instead of 3 ms per lookup at 150,000
    debtors, growing with the file).
    """
    if conn.dialect.name == "postgresql":
        for table in ("customers", "accounts", "contact_points"):
            conn.execute(sa.text(f"ANALYZE {table}"))
