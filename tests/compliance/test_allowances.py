"""Allowances for a day over a small portfolio: worked values and input errors."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from compliance import (
    Allowances,
    ComplianceInputError,
    Event,
    allowances,
    events_frame,
    load_packs,
    lookback_days,
)
from compliance.allowance import UNLIMITED
from tests.compliance.builders import calls, consent, ev

DAY = date(2025, 5, 6)  # a Tuesday; New York on EDT (UTC-4)
SLOTS = pd.date_range("2025-05-06T00:00Z", periods=30, freq="h")
VOICE, SMS, WHATSAPP, EMAIL = range(4)


def run(customers: list[tuple[str, str, str]], history: list[Event]) -> Allowances:
    frame, debts = events_frame(history)
    table = pd.DataFrame(customers, columns=["customer_id", "packs", "timezones"])
    return allowances(table, frame, DAY, SLOTS, event_debts=debts)


def hours(mask: np.ndarray) -> list[int]:
    return [int(SLOTS[i].hour) for i in np.flatnonzero(mask)]


def test_regf_calls_left_per_debt_take_the_strictest_debt() -> None:
    # Debt d1 has 5 counted calls in the 7 days ending on D, d2 has 1: 2 left.
    history = [consent("2025-01-02T12:00:00-05:00", "voice")]
    history += calls([1, 2, 3, 4], debts=("d1",)) + calls([5], debts=("d1", "d2"))
    history += calls([5], hour="11:00", outcome="busy")
    a = run([("c1", "us-regf", "America/New_York")], history)
    assert a.remaining[0, VOICE] == 2
    # 8:00-21:00 EDT is 12:00-01:00 UTC; the slot at 01:00 UTC ends at 22:00 local.
    assert hours(a.slot_allowed[0, VOICE]) == [*range(12, 24), 0]
    assert a.remaining[0, SMS] == 0  # no consent for autodialed texts


def test_two_time_zones_narrow_the_slots_to_both_days_and_hours() -> None:
    history = [consent("2025-01-02T12:00:00-05:00", "voice")]
    a = run([("c1", "us-regf", "America/New_York,America/Los_Angeles")], history)
    # 8:00 Los Angeles = 15:00 UTC; 21:00 New York = 01:00 UTC.
    assert hours(a.slot_allowed[0, VOICE]) == [*range(15, 24), 0]
    assert a.remaining[0, EMAIL] == UNLIMITED


def test_conversation_cooldown_and_opt_out_close_channels() -> None:
    history = [
        consent("2025-01-02T12:00:00-05:00", "voice"),
        ev("2025-05-01T10:00:00-04:00", outcome="conversation", direction="inbound"),
        ev("2025-05-02T10:00:00-04:00", kind="opt_out", channel="email", debts=()),
    ]
    a = run([("c1", "us-regf", "America/New_York")], history)
    assert a.remaining[0, VOICE] == 0 and not a.slot_allowed[0, VOICE].any()
    assert a.remaining[0, EMAIL] == 0
    assert a.slot_allowed[0, WHATSAPP].any()


def test_nyc_cap_is_shared_across_channels() -> None:
    history = [ev("2025-05-05T10:00:00-04:00", channel="email")]
    a = run([("c1", "us-nyc", "America/New_York")], history)
    assert list(a.remaining[0]) == [2, 2, 2, 2]
    (shared,) = a.shared_caps
    assert shared.rule == "nyc-three-attempts-per-seven-days"
    assert shared.channels == ("voice", "sms", "whatsapp", "email")
    assert shared.remaining.tolist() == [2]


def test_holiday_and_promise_hold() -> None:
    history = [ev("2025-05-05T10:00:00-04:00", kind="promise", until="2025-05-06")]
    a = run(
        [("c1", "house", "America/New_York"), ("c2", "co-ley2300", "America/Bogota")],
        history,
    )
    assert not a.slot_allowed[0].any()
    assert not a.slot_allowed[1].any()  # no authorised channel


def test_unknown_zone_or_pack_fails_closed_and_is_reported() -> None:
    a = run(
        [
            ("c1", "mx-condusef", "Mars/Olympus"),
            ("c2", "us-nowhere", "America/New_York"),
            ("c3", "mx-condusef", "America/Mexico_City"),
            ("c4", "mx-condusef", "B" * 300),
        ],
        [],
    )
    assert not a.slot_allowed[:2].any() and not a.slot_allowed[3].any()
    assert a.slot_allowed[2].any()
    assert any("Mars/Olympus" in p for p in a.problems)
    assert any("us-nowhere" in p for p in a.problems)


def test_event_after_the_first_slot_is_an_error() -> None:
    with pytest.raises(ComplianceInputError, match=r"events.at\[row 0\]"):
        run([("c1", "house", "America/New_York")], [ev("2025-05-06T10:00:00-04:00")])


def test_bad_channel_value_names_the_row() -> None:
    frame, debts = events_frame([ev("2025-05-01T10:00:00-04:00"), ev("2025-05-02T10:00:00-04:00")])
    frame["channel"] = frame["channel"].astype(object)
    frame.loc[1, "channel"] = "fax"
    table = pd.DataFrame([("c1", "house", "UTC")], columns=["customer_id", "packs", "timezones"])
    with pytest.raises(ComplianceInputError, match=r"events.channel\[row 1\].*'fax'"):
        allowances(table, frame, DAY, SLOTS, event_debts=debts)


def test_missing_customer_column_is_named() -> None:
    frame, _ = events_frame([])
    with pytest.raises(ComplianceInputError, match=r"customers\.timezones"):
        allowances(pd.DataFrame({"customer_id": [], "packs": []}), frame, DAY, SLOTS)


def test_lookback_covers_the_longest_window_with_a_day_of_margin() -> None:
    assert lookback_days(load_packs("house")) == 2
    assert lookback_days(load_packs("us-regf,house")) == 8
    assert lookback_days(load_packs("uk-ofcom")) == 4  # 72 hours


def test_lookback_is_enough_history() -> None:
    # Attempts older than the lookback change nothing in the allowances.
    packs = "us-regf,us-ma,uk-ofcom,cl-ley21320,house"
    history = [consent("2025-01-02T12:00:00-05:00", c) for c in ("voice", "sms", "email")]
    recent = calls([1, 3, 5], debts=("d1", "d2")) + calls([2], channel="sms", hour="09:00")
    old = calls([20, 25, 27], month="2025-04", outcome="conversation")
    days = lookback_days(load_packs(packs))
    assert all(e.at.date() < DAY - timedelta(days=days) for e in old)
    table = [("c1", packs, "America/New_York,America/Chicago")]
    with_old, without = run(table, history + recent + old), run(table, history + recent)
    assert (with_old.remaining == without.remaining).all()
    assert (with_old.slot_allowed == without.slot_allowed).all()


def test_remaining_frame_lists_the_open_cells() -> None:
    history = [ev("2025-05-05T10:00:00-04:00", channel="email")]
    a = run([("c1", "us-nyc", "America/New_York"), ("c2", "co-ley2300", "America/Bogota")], history)
    frame = a.remaining_frame()
    assert frame["customer_id"].tolist() == ["c1"] * 4
    assert frame["channel"].tolist() == ["voice", "sms", "whatsapp", "email"]
    assert frame["remaining"].tolist() == [2, 2, 2, 2]
    assert (frame["slots_allowed"] == a.slot_allowed[0].sum(axis=1)).all()
