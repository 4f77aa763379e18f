"""Rule-kind parameters the shipped packs leave unused, through a test pack."""

from __future__ import annotations

from pathlib import Path

from compliance import Decision, Event, Pack, Proposal, evaluate, parse_pack
from tests.compliance.builders import ev, prop, rule

KINDS: Pack = parse_pack((Path(__file__).parent / "custom_pack.toml").read_text(), "custom")
BER = ("Europe/Berlin",)  # CEST (+02:00) in May 2025


def decide(history: list[Event], proposal: Proposal) -> Decision:
    return evaluate([KINDS], history, proposal)


def test_calendar_week_resets_on_monday() -> None:
    # Thu..Sun of one week: four calls; Monday opens a new week.
    history = [ev(f"2025-05-{d:02d}T10:00:00+02:00") for d in (8, 9, 10, 11)]
    friday = decide(history, prop("2025-05-09T15:00:00+02:00", tz=BER))
    assert rule(friday, "week-cap").ok  # Thursday's and Friday morning's: 2 of 4
    sunday = decide(history, prop("2025-05-11T15:00:00+02:00", tz=BER))
    assert not rule(sunday, "week-cap").ok
    monday = decide(history, prop("2025-05-12T09:00:00+02:00", tz=BER))
    assert rule(monday, "week-cap").ok and monday.allowed


def test_campaign_window_counts_only_that_campaign() -> None:
    history = [
        ev("2025-04-01T10:00:00+02:00", channel="email", campaign="spring"),
        ev("2025-05-02T10:00:00+02:00", channel="email", campaign="spring"),
        ev("2025-05-03T10:00:00+02:00", channel="email", campaign="may"),
    ]
    spring = prop("2025-05-06T10:00:00+02:00", channel="email", tz=BER, campaign="spring")
    may = prop("2025-05-06T10:00:00+02:00", channel="email", tz=BER, campaign="may")
    unknown = prop("2025-05-06T10:00:00+02:00", channel="email", tz=BER)
    assert not rule(decide(history, spring), "campaign-cap").ok
    assert rule(decide(history, may), "campaign-cap").ok
    assert not rule(decide(history, unknown), "campaign-cap").ok  # strict: all campaigns


def test_contact_point_scope_counts_per_number_and_inbound_replies() -> None:
    history = [
        ev("2025-05-06T09:00:00+02:00", channel="sms", contact_point="+491"),
        ev(
            "2025-05-06T09:30:00+02:00",
            channel="sms",
            outcome="replied",
            direction="inbound",
            contact_point="+491",
        ),
        ev("2025-05-06T09:40:00+02:00", channel="sms", outcome="failed", contact_point="+491"),
    ]
    same = prop("2025-05-06T12:00:00+02:00", channel="sms", tz=BER, contact_point="+491")
    other = prop("2025-05-06T12:00:00+02:00", channel="sms", tz=BER, contact_point="+492")
    assert not rule(decide(history, same), "number-cap").ok
    assert rule(decide(history, other), "number-cap").ok


def test_customer_scoped_cooldown_after_an_inbound_reply() -> None:
    reply = ev(
        "2025-05-06T20:00:00+02:00",
        channel="sms",
        outcome="replied",
        direction="inbound",
        debts=("d9",),
    )
    assert not decide(
        [reply], prop("2025-05-07T23:00:00+02:00", channel="whatsapp", tz=BER)
    ).allowed
    assert decide([reply], prop("2025-05-08T00:00:00+02:00", channel="whatsapp", tz=BER)).allowed


def test_split_hours_and_subdivision_holiday() -> None:
    def voice(at: str) -> bool:
        return rule(decide([], prop(at, tz=BER)), "split-hours").ok

    assert voice("2025-05-06T11:59:00+02:00")
    assert not voice("2025-05-06T12:00:00+02:00")
    assert voice("2025-05-06T14:00:00+02:00")
    assert not voice("2025-06-19T10:00:00+02:00")  # Corpus Christi, a Bavarian holiday
