"""The collector's effectiveness per agent and day: talk, conversations, promises kept, money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from campaigns.agents.disposition import Form, save_disposition
from campaigns.agents.events import AgentCall
from campaigns.ledger.interchange import import_events
from campaigns.payments.file import PaymentRecord
from campaigns.payments.record import record_payments
from campaigns.run.report.agents import agent_days
from campaigns.storage.db import make_engine
from compliance import Event
from tests.support.portfolio import load_rows, row

DAY = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)  # 10:00 in Bogotá


def test_agent_days_from_the_ledger_and_payments(database_url: str) -> None:
    engine = make_engine(database_url)
    load_rows(
        engine,
        [row(customer_id="C1", account_id="A1"), row(customer_id="C2", account_id="B1")],
        DAY - dt.timedelta(days=2),
    )
    talks = [
        Event(DAY, "C1", ("A1",), "voice", "outbound", "attempt", "conversation",
              campaign="co-tarjetas", agent="a07", duration_s=300.0),
        Event(DAY + dt.timedelta(hours=1), "C2", ("B1",), "voice", "outbound", "attempt",
              "conversation", campaign="co-tarjetas", agent="a09", duration_s=120.0),
    ]  # fmt: skip
    import_events(engine, talks, now=DAY + dt.timedelta(hours=2))
    # a07 takes a promise at the desktop, which the debtor keeps two days later.
    call = AgentCall("a07", "wrap", DAY.isoformat(), customer_id="C1", campaign="co-tarjetas")
    form = Form(
        party="right",
        result="promise",
        promise_account="A1",
        amount=Decimal("50000.00"),
        currency="COP",
        due_on=(DAY + dt.timedelta(days=3)).date(),
    )
    save_disposition(engine, call, form, now=DAY + dt.timedelta(minutes=6))
    paid = PaymentRecord(
        2, "A1", Decimal("50000.00"), "COP", "PAY-1", paid_at=DAY + dt.timedelta(days=2)
    )
    record_payments(engine, [paid], source="file", now=DAY + dt.timedelta(days=2, hours=1))
    with engine.connect() as conn:
        days = agent_days(
            conn, DAY - dt.timedelta(hours=15), DAY + dt.timedelta(hours=9), zone="America/Bogota"
        )
    engine.dispose()
    assert days == [
        {
            "agent": "a07",
            "day": "2026-12-01",
            "talk_minutes": 5.0,
            "conversations": 1,
            "promises": 1,
            "promises_kept": 1,
            "collected": {"COP": 50000.0},
        },
        {
            "agent": "a09",
            "day": "2026-12-01",
            "talk_minutes": 2.0,
            "conversations": 1,
            "promises": 0,
            "promises_kept": 0,
            "collected": {},
        },
    ]


def test_a_broken_promise_is_followed_up_first_by_the_agent_who_took_it(database_url: str) -> None:
    """The owner is the first conversation's agent; the follow-up goes to the promise's."""
    from campaigns.agents.owners import owner_of
    from campaigns.payments.promises import promise_taker, settle_promises

    engine = make_engine(database_url)
    load_rows(engine, [row(customer_id="C1", account_id="A1")], DAY - dt.timedelta(days=2))
    talks = [
        Event(DAY - dt.timedelta(days=1), "C1", ("A1",), "voice", "outbound", "attempt",
              "conversation", campaign="co-tarjetas", agent="a09", duration_s=60.0),
        Event(DAY, "C1", ("A1",), "voice", "outbound", "attempt", "conversation",
              campaign="co-tarjetas", agent="a07", duration_s=300.0),
    ]  # fmt: skip
    import_events(engine, talks, now=DAY + dt.timedelta(hours=2))
    call = AgentCall("a07", "wrap", DAY.isoformat(), customer_id="C1", campaign="co-tarjetas")
    form = Form(
        party="right",
        result="promise",
        promise_account="A1",
        amount=Decimal("50000.00"),
        currency="COP",
        due_on=(DAY + dt.timedelta(days=1)).date(),
    )
    save_disposition(engine, call, form, now=DAY + dt.timedelta(minutes=6))
    later = DAY + dt.timedelta(days=6)
    assert promise_taker(engine, "C1", DAY) is None  # not broken yet
    with engine.begin() as conn:
        settle_promises(conn, now=later)
    taker = promise_taker(engine, "C1", later - dt.timedelta(days=7))
    owner = owner_of(engine, "C1")
    engine.dispose()
    assert (owner, taker) == ("a09", "a07")
