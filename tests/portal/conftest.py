"""The portal's test-bed: a Colombian debtor with two debts, a run of co-tarjetas, a link."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from cadencia.portal.app import create_portal_app
from campaigns.portal.links import issue_links
from campaigns.storage.db import make_engine
from campaigns.storage.models import Run
from tests.support.clock import Clock
from tests.support.portfolio import load_rows, two_debtors

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in Bogotá
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "co-tarjetas.toml"
CAMPAIGN = "co-tarjetas"
RIGHT_ANSWER = "4567"  # the last four digits of C1's phone, 300 123 4567
TTL = dt.timedelta(hours=72)


@dataclass
class Bed:
    """A seeded database, the portal app on it, and C1's link."""

    engine: Engine
    clock: Clock
    app: FastAPI
    reference: str


def seed(engine: Engine) -> None:
    """C1 owes on a card and a loan (COP); C2 is another debtor; co-tarjetas ran today."""
    load_rows(
        engine,
        two_debtors(),
        NOW - dt.timedelta(days=1),
    )
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Run).values(
                campaign=CAMPAIGN,
                day=NOW.date(),
                campaign_toml=EXAMPLE.read_text("utf-8"),
                state="executing",
                needs_approval=False,
                created_at=NOW,
                updated_at=NOW,
                summary="{}",
            )
        )


def link_for(engine: Engine, customer: str = "C1", now: dt.datetime = NOW) -> str:
    """A fresh portal reference for ``customer`` in co-tarjetas."""
    with engine.begin() as conn:
        return issue_links(conn, [customer], CAMPAIGN, now=now, ttl=TTL)[customer]


@pytest.fixture()
def bed(database_url: str) -> Iterator[Bed]:
    """The portal on a seeded database (SQLite and PostgreSQL), its clock at ``NOW``."""
    engine = make_engine(database_url)
    seed(engine)
    clock = Clock(NOW)
    app = create_portal_app(engine, clock=clock, secret="test-secret", secure_cookies=False)
    try:
        yield Bed(engine, clock, app, link_for(engine))
    finally:
        engine.dispose()
