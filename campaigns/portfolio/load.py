"""Loading a validated portfolio: staging tables, then set-based merges, one transaction.

Row-by-row ORM inserts manage a few thousand rows a second; a million-customer
file needs bulk paths. Rows go into temporary staging tables (PostgreSQL:
``COPY``; SQLite: ``executemany``, ``campaigns.portfolio.stage``), then a
handful of set-based statements merge them (``campaigns.portfolio.merge``).
Either every statement commits or none.

This loads records already held in memory (the console's upload, the tests);
``campaigns.portfolio.stream`` validates a file chunk by chunk straight into
the same staging tables and the same merge, never holding the whole file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.portfolio.merge import Merged, analyze_merged, merge_staged
from campaigns.portfolio.rows import ValidatedPortfolio
from campaigns.portfolio.search import fold
from campaigns.portfolio.stage import create_stages, drop_stages, fill_stage, prepare_stages


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


def summarize(customers: int, accounts: int, points: int, merged: Merged) -> ImportSummary:
    """The import's counts: staged rows the merge did not create were updated."""
    return ImportSummary(
        customers=customers,
        accounts=accounts,
        contact_points=points,
        customers_created=merged.customers_created,
        customers_updated=customers - merged.customers_created,
        accounts_created=merged.accounts_created,
        accounts_updated=accounts - merged.accounts_created,
        accounts_closed=merged.accounts_closed,
        contact_points_created=merged.contact_points_created,
        contact_points_updated=points - merged.contact_points_created,
        contact_points_retired=merged.contact_points_retired,
    )


def finish_import(conn: Connection, now: dt.datetime, full_refresh: bool, *, file: str) -> Merged:
    """Merge the filled staging tables, drop them and refresh statistics."""
    prepare_stages(conn)
    merged = merge_staged(conn, now, full_refresh, file=file)
    drop_stages(conn)
    analyze_merged(conn)
    return merged


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
        create_stages(conn)
        # with each name folded for searches (customers.name_folded, migration 0017)
        # (line 0: these records carry no line, and hold each customer once)
        customers = ((*c, fold(c.name)[:200], 0) for c in portfolio.customers)
        fill_stage(conn, "stage_customers", customers)
        fill_stage(conn, "stage_accounts", portfolio.accounts)
        fill_stage(conn, "stage_points", ((*p, 0) for p in portfolio.contact_points))
        merged = finish_import(conn, now, full_refresh, file=portfolio.file)
    return summarize(
        len(portfolio.customers), len(portfolio.accounts), len(portfolio.contact_points), merged
    )


def table_counts(
    engine: Engine, tables: Iterable[str] = ("customers", "accounts", "contact_points")
) -> dict[str, int]:
    """Row counts per table (used by tests and the CLI to show nothing changed)."""
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }
