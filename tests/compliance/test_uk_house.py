"""UK Ofcom persistent-misuse lockouts and Cadencia's house rules.

London is on BST (+01:00) in May 2025; May 5, 2025 is a Monday.
"""

from __future__ import annotations

from typing import Any

from compliance import Event
from tests.compliance.builders import calls, decide, ev, prop, rule

LON = ("Europe/London",)
NUMBER = "+447700900001"


def uk(at: str, history: list[Event], **kw: Any) -> bool:
    return decide("uk-ofcom", history, prop(at, tz=LON, **kw)).allowed


def test_ofcom_annex1_abandoned_call_locks_the_number_for_72_hours() -> None:
    history = [ev("2025-05-05T10:00:00+01:00", outcome="abandoned", contact_point=NUMBER)]
    d = decide("uk-ofcom", history, prop("2025-05-08T09:59:00+01:00", tz=LON, contact_point=NUMBER))
    assert not d.allowed
    assert "locked until" in rule(d, "ofcom-abandoned-72h").detail
    assert uk("2025-05-08T10:00:00+01:00", history, contact_point=NUMBER)


def test_ofcom_annex1_abandoned_lockout_lifted_with_a_guaranteed_agent() -> None:
    history = [ev("2025-05-05T10:00:00+01:00", outcome="abandoned", contact_point=NUMBER)]
    assert uk("2025-05-05T15:00:00+01:00", history, contact_point=NUMBER, agent_guaranteed=True)


def test_ofcom_annex1_abandoned_lockout_is_per_number() -> None:
    history = [ev("2025-05-05T10:00:00+01:00", outcome="abandoned", contact_point=NUMBER)]
    assert uk("2025-05-05T15:00:00+01:00", history, contact_point="+447700900002")
    assert not uk("2025-05-05T15:00:00+01:00", history)  # unknown number: strict


def test_ofcom_annex1_machine_detected_no_repeat_the_same_day() -> None:
    history = [ev("2025-05-05T10:00:00+01:00", outcome="machine", contact_point=NUMBER)]
    assert not uk("2025-05-05T23:59:00+01:00", history, contact_point=NUMBER)
    assert uk("2025-05-06T00:00:00+01:00", history, contact_point=NUMBER)


def test_house_h1_pending_promise_holds_until_the_promised_date_has_passed() -> None:
    history = [
        ev("2025-05-05T10:00:00-04:00", kind="promise", until="2025-05-09", direction="inbound")
    ]
    d = decide("house", history, prop("2025-05-09T18:00:00-04:00"))
    assert not d.allowed
    assert "2025-05-09" in rule(d, "house-promise-hold").detail
    assert decide("house", history, prop("2025-05-10T08:00:00-04:00")).allowed


def test_house_h1_promise_on_one_debt_does_not_hold_another() -> None:
    history = [ev("2025-05-05T10:00:00-04:00", kind="promise", until="2025-05-09")]
    assert decide("house", history, prop("2025-05-06T10:00:00-04:00", debts=("d2",))).allowed
    assert not decide("house", history, prop("2025-05-06T10:00:00-04:00", debts=())).allowed


def test_house_h2_open_dispute_holds_until_resolved() -> None:
    opened = ev("2025-05-05T10:00:00-04:00", kind="dispute", channel="email", direction="inbound")
    closed = ev("2025-05-07T10:00:00-04:00", kind="dispute", channel="email", resolved=True)
    d = decide("house", [opened], prop("2025-05-06T10:00:00-04:00", channel="sms"))
    assert not d.allowed and not rule(d, "house-dispute-hold").ok
    assert decide("house", [opened, closed], prop("2025-05-08T10:00:00-04:00")).allowed


def test_house_h3_three_attempts_a_day() -> None:
    history = calls([6], hour="09:00") + calls([6], hour="10:00", channel="sms")
    assert decide("house", history, prop("2025-05-06T12:00:00-04:00")).allowed
    history += calls([6], hour="11:00", channel="email")
    d = decide("house", history, prop("2025-05-06T12:00:00-04:00"))
    assert not d.allowed and "3 of 3" in rule(d, "house-max-attempts-per-day").detail
    assert decide("house", history, prop("2025-05-07T00:30:00-04:00")).allowed
