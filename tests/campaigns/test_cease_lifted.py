"""A cease request is lifted only by a consent recorded after it, in the guard and the plan.

The ledger is real PostgreSQL; the cease and the consents enter it the way a
previous system's history does (``cadencia ledger import``), and are read back
by the contact-time guard and by the history planning's allowances read.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from campaigns.ledger.guard import guard_and_reserve
from campaigns.ledger.interchange import import_events
from campaigns.run.inputs import histories
from campaigns.storage.db import make_engine
from compliance import Event, allowances
from compliance.frames import events_frame
from tests.support.portfolio import load_rows, us_row
from tests.support.requests import TUESDAY_11_NEW_YORK, us_call

NOW = TUESDAY_11_NEW_YORK
# Older than any pack's look-back: a cease stands however old it is.
CEASED = NOW - dt.timedelta(days=60)
SLOTS = [NOW + dt.timedelta(hours=h) for h in range(3)]


def record(kind: str, at: dt.datetime, channel: str, **extra: bool) -> Event:
    """A record of customer U1 as a previous system's history carries it."""
    return Event(
        at=at,
        customer_id="U1",
        debt_ids=(),
        channel=channel,
        direction="inbound",
        kind=kind,
        **extra,  # type: ignore[arg-type]
    )


def cease_rule_ok(url: str, key: str) -> bool:
    """Whether the guard's Regulation F cease rule lets a voice call to U1 through now."""
    engine = make_engine(url)
    (result,) = guard_and_reserve(engine, [us_call(key)], now=NOW)
    engine.dispose()
    (cease,) = [r for r in result.decision.results if r.rule == "regf-cease"]
    return cease.ok


def planned_slots(url: str) -> dict[str, int]:
    """Allowed slots per channel for U1 today, from the ledger as planning reads it."""
    engine = make_engine(url)
    with engine.connect() as conn:
        events = histories(conn, ["U1"], ["us-regf"], SLOTS[0])
    engine.dispose()
    ev, ev_debts = events_frame(events)
    customers = pd.DataFrame(
        {"customer_id": ["U1"], "packs": ["us-regf"], "timezones": ["America/New_York"]}
    )
    allow = allowances(
        customers, ev, NOW.date(), SLOTS, event_debts=ev_debts, channels=("voice", "email")
    )
    return {c: int(np.sum(allow.slot_allowed[0, j])) for j, c in enumerate(allow.channels)}


def test_an_earlier_consent_does_not_lift_a_later_cease_and_a_later_one_does(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)
    # The bank's file: the number's consent given at onboarding, long before the cease.
    load_rows(engine, [us_row(phone_1_consent="granted", consent_at="2025-06-01")], now=NOW)
    earlier = record("consent", CEASED - dt.timedelta(days=30), "voice", granted=True)
    import_events(engine, [earlier, record("cease", CEASED, "email")], now=NOW)
    assert not cease_rule_ok(postgres_url, "before-consent")
    assert planned_slots(postgres_url) == {"voice": 0, "email": 0}

    # A consent at the cease's very instant does not lift it either.
    import_events(engine, [record("consent", CEASED, "voice", granted=True)], now=NOW)
    assert not cease_rule_ok(postgres_url, "same-instant")

    # The debtor consents again to calls, after the cease: calls resume, email stays ceased.
    later = record("consent", NOW - dt.timedelta(days=3), "voice", granted=True)
    import_events(engine, [later], now=NOW)
    assert planned_slots(postgres_url) == {"voice": 3, "email": 0}
    assert cease_rule_ok(postgres_url, "after-consent")
    engine.dispose()
