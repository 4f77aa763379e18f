"""Outcome rows from provider events: once per event id, never backwards."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.messaging import record_outcomes
from campaigns.storage.db import make_engine
from campaigns.webhooks import OutcomeEvent, record_outcome_events
from compliance import Proposal, load_packs

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def reserve(database_url: str) -> tuple[Engine, int]:
    engine = make_engine(database_url)
    (result,) = guard_and_reserve(
        engine,
        [
            ContactRequest(
                key="k1",
                proposal=Proposal(
                    at=NOW,
                    customer_id="C1",
                    debt_ids=("A1",),
                    channel="sms",
                    timezones=("America/New_York",),
                    contact_point="+12125550100",
                    line_type="mobile",
                ),
                packs=load_packs("house"),
            )
        ],
        now=NOW,
    )
    assert result.allowed and result.attempt_id is not None
    return engine, result.attempt_id


def outcomes(engine: Engine, attempt: int) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS.c.outcome).where(EVENTS.c.resolves_id == attempt).order_by(EVENTS.c.id)
        )
        return [r[0] for r in rows]


def test_late_sent_never_follows_delivered(database_url: str) -> None:
    engine, attempt = reserve(database_url)
    later = NOW + dt.timedelta(seconds=5)
    first = record_outcome_events(
        engine, [OutcomeEvent(attempt, "delivered", "twilio:SM1:delivered", later)], now=later
    )
    assert first.recorded == 1
    # The webhook beat the job's own bookkeeping: the job's "sent" is not written.
    record_outcomes(engine, [(attempt, "sent", {"provider_id": "SM1"})], now=later)
    late = record_outcome_events(
        engine, [OutcomeEvent(attempt, "sent", "twilio:SM1:sent", later)], now=later
    )
    assert late.stale == 1 and late.recorded == 0
    again = record_outcome_events(
        engine, [OutcomeEvent(attempt, "delivered", "twilio:SM1:delivered", later)], now=later
    )
    assert again.duplicates == 1
    replied = record_outcome_events(
        engine, [OutcomeEvent(attempt, "replied", "twilio:SM2:inbound", later)], now=later
    )
    assert replied.recorded == 1
    assert outcomes(engine, attempt) == ["delivered", "replied"]


def test_events_for_unknown_attempts_change_nothing(database_url: str) -> None:
    engine, attempt = reserve(database_url)
    summary = record_outcome_events(
        engine, [OutcomeEvent(attempt + 999, "delivered", "sendgrid:evt-9", NOW)], now=NOW
    )
    assert summary.unknown == 1 and summary.recorded == 0
    assert outcomes(engine, attempt) == []
