"""Massachusetts (940 CMR 7.04) and New York City (6 RCNY 5-77) frequency caps,
and how packs compose with Regulation F (the strictest wins)."""

from __future__ import annotations

from tests.compliance.builders import calls, consent, decide, ev, prop, rule

CONSENTS = [consent("2025-01-02T12:00:00-05:00", c) for c in ("voice", "sms")]


def test_ma_940_cmr_7_04_1_f_third_communication_in_seven_days_refused() -> None:
    history = [*CONSENTS, *calls([5]), ev("2025-05-07T10:00:00-04:00", channel="sms")]
    d = decide("us-ma", history, prop("2025-05-09T10:00:00-04:00"))
    assert not d.allowed
    assert "2 of 2" in rule(d, "ma-two-per-seven-days").detail


def test_ma_940_cmr_7_04_1_f_texts_count_and_email_does_not() -> None:
    texts = [ev("2025-05-05T10:00:00-04:00", channel="sms")]
    emails = [ev(f"2025-05-0{d}T10:00:00-04:00", channel="email") for d in (6, 7, 8)]
    d = decide("us-ma", texts + emails, prop("2025-05-09T10:00:00-04:00", channel="sms"))
    assert d.allowed, d.to_dict()
    assert "1 of 2" in rule(d, "ma-two-per-seven-days").detail


def test_ma_940_cmr_7_04_1_f_each_debt_has_its_own_two() -> None:
    history = calls([5, 6], debts=("d1",))
    assert not decide("us-ma", history, prop("2025-05-09T10:00:00-04:00")).allowed
    d2 = decide("us-ma", history, prop("2025-05-09T10:00:00-04:00", debts=("d2",)))
    assert d2.allowed


def test_ma_940_cmr_7_04_1_f_day_8_is_a_new_period() -> None:
    history = calls([5, 6])
    assert not decide("us-ma", history, prop("2025-05-11T10:00:00-04:00")).allowed
    # On the 12th the period is 6..12: the call of the 5th has dropped out.
    assert decide("us-ma", history, prop("2025-05-12T10:00:00-04:00")).allowed


def test_ma_and_regf_compose_the_strictest_wins() -> None:
    history = [*CONSENTS, *calls([5, 6])]
    regf_alone = decide("us-regf", history, prop("2025-05-07T10:00:00-04:00"))
    assert regf_alone.allowed
    both = decide("us-regf,us-ma", history, prop("2025-05-07T10:00:00-04:00"))
    assert not both.allowed
    assert rule(both, "regf-call-frequency").ok
    assert not rule(both, "ma-two-per-seven-days").ok


def test_nyc_6_rcny_5_77_fourth_attempt_across_channels_refused() -> None:
    history = [
        ev("2025-05-05T10:00:00-04:00"),
        ev("2025-05-06T10:00:00-04:00", channel="sms"),
        ev("2025-05-07T10:00:00-04:00", channel="email", outcome="bounced"),
    ]
    for channel in ("voice", "whatsapp", "email"):
        d = decide("us-nyc", history, prop("2025-05-08T10:00:00-04:00", channel=channel))
        assert not d.allowed
        assert "3 of 3" in rule(d, "nyc-three-attempts-per-seven-days").detail


def test_nyc_6_rcny_5_77_unanswered_and_busy_attempts_count() -> None:
    history = calls([5], outcome="busy") + calls([6], outcome="no_answer") + calls([7])
    assert not decide("us-nyc", history, prop("2025-05-08T10:00:00-04:00")).allowed


def test_nyc_6_rcny_5_77_seven_days_roll() -> None:
    history = calls([5, 6, 7])
    assert not decide("us-nyc", history, prop("2025-05-11T10:00:00-04:00")).allowed
    assert decide("us-nyc", history, prop("2025-05-12T10:00:00-04:00")).allowed
