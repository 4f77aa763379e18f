"""Fault: PostgreSQL refuses connections for a few seconds in the middle of the day.

Invariant: while the ledger is unreachable no contact is allowed (fail closed,
with the reason); nothing reserved before the outage is lost; once it is back
the guard decides again, the chain verifies and nobody was reserved twice.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import sqlalchemy as sa

from campaigns.ledger.chain import verify
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.storage.db import make_engine
from compliance import Proposal, load_packs
from tests.faults.invariants import check_ledger
from tests.support.netfault import FlakyProxy
from tests.support.portfolio import load_rows, us_row

MONDAY_NY = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)


def call(customer: str, key: str, at: dt.datetime) -> ContactRequest:
    return ContactRequest(
        key,
        Proposal(
            at=at,
            customer_id=customer,
            debt_ids=(f"A{customer}",),
            channel="voice",
            timezones=("America/New_York",),
            contact_point=None,
        ),
        load_packs("us-regf"),
    )


def test_guard_fails_closed_during_a_postgres_outage_and_recovers(postgres_url: str) -> None:
    direct = make_engine(postgres_url)
    load_rows(
        direct,
        [
            us_row(
                customer_id=c,
                account_id=f"A{c}",
                phone_1_consent="granted",
                consent_at="2025-01-01",
                phone_1=f"(212) 555-01{i:02d}",
            )
            for i, c in enumerate(["U1", "U2", "U3"])
        ],
        now=MONDAY_NY,
    )
    target = urlsplit(postgres_url.replace("postgresql+psycopg", "postgresql"))
    with FlakyProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        url = postgres_url.replace(f":{target.port}/", f":{proxy.port}/")
        engine = make_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 2})
        (before,) = guard_and_reserve(engine, [call("U1", "k1", MONDAY_NY)], now=MONDAY_NY)
        assert before.allowed

        proxy.down()
        later = MONDAY_NY + dt.timedelta(minutes=5)
        during = guard_and_reserve(
            engine, [call("U2", "k2", later), call("U3", "k3", later)], now=later
        )
        assert [r.allowed for r in during] == [False, False]
        assert all(r.decision.results[0].rule == "ledger-unavailable" for r in during)
        assert "ledger unreachable" in during[0].decision.results[0].detail

        proxy.up()
        (after,) = guard_and_reserve(engine, [call("U2", "k2", later)], now=later)
        assert after.allowed and not after.replayed
        engine.dispose()
    with direct.connect() as conn:
        keys = (
            conn.execute(sa.text("SELECT idempotency_key FROM contact_events ORDER BY id"))
            .scalars()
            .all()
        )
    assert keys == ["k1", "k2"]  # k1 survived the outage, k3 was never reserved
    assert verify(direct).ok
    # the two reservations are pending (nothing was dialed here), and the guard named them
    state = check_ledger(direct, visibly_pending=[before.attempt_id, after.attempt_id])
    assert len(state.pending) == 2
    direct.dispose()
