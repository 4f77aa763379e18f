"""The session's ledger guard and outcome sink: fail closed, pending before dialing, replays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from campaigns.dialing import LedgerGuard, LedgerSink
from campaigns.ledger.chain import EVENTS
from campaigns.storage.db import make_engine
from campaigns.storage.models import ContactPoint, Customer
from dialer.session import CallResult, Lead
from tests.support.dialworld import make_world


def test_allowed_reserves_a_pending_attempt_and_a_replay_knows_it_is_settled(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path, ["5550001"])
    guard, sink = LedgerGuard(world.engine, world.campaign), LedgerSink(world.engine)
    lead = Lead(world.keys()["D0"], "D0")
    now = dt.datetime.now(dt.UTC)
    first = guard.reserve(lead, now)
    assert first.allowed and not first.replayed and first.number == "+12125550001"
    assert first.attempt_id is not None
    with world.engine.connect() as conn:
        row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == first.attempt_id)).one()
    assert (row.status, row.channel, row.idempotency_key) == ("pending", "voice", lead.key)
    again = guard.reserve(lead, now)
    assert again.replayed and not again.settled and again.attempt_id == first.attempt_id
    result = CallResult(first.attempt_id, "conversation", now, "agent1", 42.0, {"hold_s": 1})
    sink.record(result)
    sink.record(result)  # an event delivered twice is recorded once
    settled = guard.reserve(lead, now)
    assert settled.replayed and settled.settled and settled.number == "+12125550001"
    with world.engine.connect() as conn:
        outcomes = conn.execute(
            sa.select(EVENTS.c.outcome, EVENTS.c.agent, EVENTS.c.duration_s).where(
                EVENTS.c.resolves_id == first.attempt_id
            )
        ).all()
    assert [tuple(o) for o in outcomes] == [("conversation", "agent1", 42.0)]


def test_the_guard_fails_closed(tmp_path: Path) -> None:
    world = make_world(tmp_path, ["5550001", "5550002", "5550003"])
    guard = LedgerGuard(world.engine, world.campaign)
    keys, now = world.keys(), dt.datetime.now(dt.UTC)
    with world.engine.begin() as conn:
        conn.execute(sa.update(Customer).where(Customer.external_id == "D1").values(country="CL"))
        d2 = conn.execute(sa.select(Customer.id).where(Customer.external_id == "D2")).scalar()
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.customer_id == d2, ContactPoint.kind == "phone")
            .values(opted_out_at=now)
        )
    unknown = guard.reserve(Lead("plan:999", "NOBODY"), now)
    assert not unknown.allowed and "not found" in unknown.reason
    no_pack = guard.reserve(Lead(keys["D1"], "D1"), now)
    assert not no_pack.allowed and "no rule pack for CL" in no_pack.reason
    opted_out = guard.reserve(Lead(keys["D2"], "D2"), now)
    assert not opted_out.allowed and "opted out" in opted_out.reason
    at_night = guard.reserve(Lead(keys["D0"], "D0"), now + dt.timedelta(hours=12))
    assert not at_night.allowed and at_night.attempt_id is None
    gone = LedgerGuard(make_engine(f"sqlite:///{tmp_path}/missing/x.db"), world.campaign)
    down = gone.reserve(Lead(keys["D0"], "D0"), now)
    assert not down.allowed and down.reason.startswith("fail closed")
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one() == 0
