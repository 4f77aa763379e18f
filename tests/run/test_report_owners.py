"""The run report's measure of one agent per customer: repeat conversations with the owner."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.engine import Engine

from campaigns.agents.owners import assign_owner, owner_of, record_conversation
from campaigns.ledger.chain import LedgerEntry, append_now
from campaigns.run.report.owners import owner_days
from campaigns.storage.db import make_engine, migrate

DAY = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)


def _attempt(customer: str, at: dt.datetime, n: int) -> list[LedgerEntry]:
    """A pending attempt, as the guard reserves it."""
    return [
        LedgerEntry(
            at=at,
            customer_id=customer,
            debt_ids=(f"A{customer}",),
            channel="voice",
            direction="outbound",
            kind="attempt",
            status="pending",
            campaign="c",
            idempotency_key=f"plan:{n}",
        ),
    ]


def _conversation(engine: Engine, customer: str, agent: str, at: dt.datetime, n: int) -> int:
    """An attempt and its conversation with ``agent``; returns the attempt's id."""
    (attempt,) = append_now(engine, _attempt(customer, at, n), now=at)
    append_now(
        engine,
        [
            LedgerEntry(
                at=at,
                customer_id=customer,
                debt_ids=(f"A{customer}",),
                channel="voice",
                direction="outbound",
                kind="attempt",
                outcome="conversation",
                resolves_id=attempt,
                campaign="c",
                agent=agent,
                idempotency_key=f"outcome:{attempt}:conversation",
            )
        ],
        now=at,
    )
    return attempt


def test_repeat_conversations_with_the_owner_per_day(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/o.db"
    migrate(url)
    engine = make_engine(url)
    # C1: first with a1, then a1, a2 (a repeat with someone else), a1 the next day
    _conversation(engine, "C1", "a1", DAY, 1)
    _conversation(engine, "C1", "a1", DAY + dt.timedelta(hours=1), 2)
    with_a2 = _conversation(engine, "C1", "a2", DAY + dt.timedelta(hours=2), 3)
    _conversation(engine, "C1", "a1", DAY + dt.timedelta(days=1), 4)
    # C2: one conversation only, no repeat; C3: assigned to a3 after a first talk with a2
    _conversation(engine, "C2", "a2", DAY, 5)
    _conversation(engine, "C3", "a2", DAY, 6)
    assign_owner(engine, "C3", "a3", now=DAY)
    _conversation(engine, "C3", "a3", DAY + dt.timedelta(hours=3), 7)

    with engine.connect() as conn:
        days = owner_days(
            conn, DAY - dt.timedelta(hours=14), DAY + dt.timedelta(days=2), zone="UTC"
        )
    assert [d.as_dict() for d in days] == [
        {"day": "2026-12-01", "repeat_conversations": 3, "same_agent": 2, "share": 2 / 3},
        {"day": "2026-12-02", "repeat_conversations": 1, "same_agent": 1, "share": 1.0},
    ]
    # the owner: the first conversation's agent, found in the ledger; never the later one
    assert owner_of(engine, "C1") == "a1"
    assert record_conversation(engine, with_a2, "a2", DAY) == "a1"
    assert owner_of(engine, "C3") == "a3"
