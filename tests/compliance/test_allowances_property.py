"""Allowances never allow what the contact-time guard would refuse.

The relation verified, for random small histories and pack/zone choices: for
every customer c, channel ch and slot s with ``slot_allowed[c, ch, s]``,
``evaluate(packs(c), history(c), P)`` allows ``P`` = (customer c, channel ch,
at = s and at = s + 59 min, timezones(c), debt_ids = () i.e. all debts, no
contact point, unknown line type, the channel's default autodialing, no
guaranteed agent, the same campaign as the allowances). And the count is not over-generous: with
``r = remaining[c, ch]`` (when capped), the history plus r - 1 more counted
attempts on ch one second before s still leaves P allowed at s. Histories all
precede the first slot, as they do when a plan is made.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import (
    Event,
    Proposal,
    allowances,
    available_packs,
    evaluate,
    events_frame,
    load_pack,
)
from compliance.model import MESSAGE_OUTCOMES, VOICE_OUTCOMES
from tests.compliance.test_rule_kinds import KINDS

CATALOG = {name: load_pack(name) for name in available_packs()} | {KINDS.name: KINDS}

PACK_SETS = [
    "us-regf,house",
    "us-regf,us-ma,uk-ofcom",
    "us-nyc,house",
    "co-ley2300",
    "cl-ley21320,house",
    "pe-ley29571,mx-condusef",
    "ec-lodc,uk-ofcom",
    "test-kinds,house",
    "test-kinds,us-regf",
]
ZONE_SETS = [
    "America/New_York",
    "America/New_York,America/Los_Angeles",
    "America/Bogota",
    "America/Santiago,America/Lima",
    "Europe/London",
    "Asia/Kolkata",
    "Europe/Berlin",
]
# US DST start and end, Chile DST end and its midnight-less start day, holidays.
DAYS = [
    date(2025, 3, 9),
    date(2025, 4, 6),
    date(2025, 5, 6),
    date(2025, 5, 21),
    date(2025, 8, 7),
    date(2025, 9, 7),
    date(2025, 11, 2),
]


@st.composite
def event_at(draw: st.DrawFn, customer: str, end: datetime) -> Event:
    channel = draw(st.sampled_from(["voice", "sms", "whatsapp", "email"]))
    kind = draw(
        st.sampled_from(
            ["attempt"] * 8 + ["consent", "consent", "opt_out", "cease", "promise", "dispute"]
        )
    )
    at = end - timedelta(minutes=draw(st.integers(1, 9 * 24 * 60)))
    debts = tuple(draw(st.lists(st.sampled_from(["d1", "d2", "d3"]), max_size=2, unique=True)))
    outcomes = VOICE_OUTCOMES if channel == "voice" else MESSAGE_OUTCOMES
    return Event(
        at=at,
        customer_id=customer,
        debt_ids=debts or (("d1",) if kind in ("promise", "dispute") else ()),
        channel=channel,
        direction=draw(st.sampled_from(["outbound", "outbound", "inbound"])),
        kind=kind,
        outcome=draw(st.sampled_from(outcomes)) if kind == "attempt" else None,
        contact_point=draw(st.sampled_from([None, "p1", "p2"])),
        campaign=draw(st.sampled_from([None, "spring", "may"])),
        granted=draw(st.booleans()) if kind == "consent" else None,
        until=(at + timedelta(days=draw(st.integers(-1, 4)))).date() if kind == "promise" else None,
        resolved=draw(st.booleans()) if kind == "dispute" else None,
    )


@st.composite
def portfolios(draw: st.DrawFn) -> tuple[pd.DataFrame, list[Event], date, str | None]:
    day = draw(st.sampled_from(DAYS))
    first_slot = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=14)
    rows, events = [], []
    for i in range(draw(st.integers(1, 3))):
        cid = f"c{i}"
        rows.append(
            {
                "customer_id": cid,
                "packs": draw(st.sampled_from(PACK_SETS)),
                "timezones": draw(st.sampled_from(ZONE_SETS)),
            }
        )
        # Consents first so that most channels are open and the slots get exercised.
        for channel in ("voice", "sms", "whatsapp", "email"):
            if draw(st.booleans()):
                events.append(
                    Event(
                        first_slot - timedelta(days=30),
                        cid,
                        (),
                        channel,
                        "inbound",
                        "consent",
                        granted=True,
                    )
                )
        events += draw(st.lists(event_at(cid, first_slot), max_size=12))
    return pd.DataFrame(rows), events, day, draw(st.sampled_from([None, "may"]))


def counted_outcome(channel: str) -> str:
    return "no_answer" if channel == "voice" else "sent"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios())
def test_allowances_never_allow_what_evaluate_refuses(
    case: tuple[pd.DataFrame, list[Event], date, str | None],
) -> None:
    customers, history, day, campaign = case
    first = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=14)
    slots = pd.date_range(first, periods=52, freq="h")
    frame, debts = events_frame(history)
    a = allowances(
        customers, frame, day, slots, event_debts=debts, campaign=campaign, catalog=CATALOG
    )
    for c, row in enumerate(customers.itertuples()):
        packs = [CATALOG[name] for name in row.packs.split(",")]
        zones = tuple(row.timezones.split(","))
        mine = [e for e in history if e.customer_id == row.customer_id]
        for j, channel in enumerate(a.channels):
            left = int(a.remaining[c, j])
            assert left >= 0
            assert (left > 0) == bool(a.slot_allowed[c, j].any())
            for s in range(len(slots)):
                if not a.slot_allowed[c, j, s]:
                    continue
                start = slots[s].to_pydatetime()
                for at in (start, start + timedelta(minutes=59)):
                    p = Proposal(
                        at,
                        row.customer_id,
                        (),
                        channel,
                        zones,
                        campaign=campaign,
                        autodialed=channel in ("voice", "sms"),
                    )
                    d = evaluate(packs, mine, p)
                    assert d.allowed, (channel, at, d.to_dict())
                if left < 2**31 - 1 and left > 1:
                    extra = [
                        Event(
                            start - timedelta(seconds=1),
                            row.customer_id,
                            (),
                            channel,
                            "outbound",
                            "attempt",
                            outcome=counted_outcome(channel),
                            campaign=campaign,
                        )
                        for _ in range(left - 1)
                    ]
                    p = Proposal(
                        start,
                        row.customer_id,
                        (),
                        channel,
                        zones,
                        campaign=campaign,
                        autodialed=channel in ("voice", "sms"),
                    )
                    d = evaluate(packs, mine + extra, p)
                    caps = [r for r in d.results if "counted" in r.detail]
                    assert all(r.ok for r in caps), (left, d.to_dict())
