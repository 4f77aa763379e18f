"""US Regulation F (12 CFR part 1006) and the TCPA consent baseline.

Worked examples from the rule text and the CFPB's official interpretations
(Supplement I to part 1006). New York is on EDT (UTC-4) in May 2025; May 5,
2025 is a Monday.
"""

from __future__ import annotations

from tests.compliance.builders import calls, consent, decide, ev, prop, rule

PACK = "us-regf"
CONSENTED = [consent("2025-01-02T12:00:00-05:00", "voice")]


def test_regf_1006_14_b_2_i_A_eighth_call_in_rolling_7_days_refused() -> None:
    history = CONSENTED + calls(range(5, 12))  # seven calls, Mon 5 .. Sun 11
    d = decide(PACK, history, prop("2025-05-11T15:00:00-04:00"))
    assert not d.allowed
    r = rule(d, "regf-call-frequency")
    assert not r.ok and "7 of 7" in r.detail and "debt d1" in r.detail
    assert (r.count, r.limit) == (7, 7)


def test_regf_1006_14_b_2_i_A_seventh_call_allowed() -> None:
    history = CONSENTED + calls(range(5, 11))  # six calls
    d = decide(PACK, history, prop("2025-05-11T15:00:00-04:00"))
    assert d.allowed, d.to_dict()


def test_regf_1006_14_b_2_i_A_day_8_call_falls_outside_the_7_days() -> None:
    # Seven calls on day 1 (Monday); the period of seven consecutive days is
    # Mon..Sun, so a call on the following Monday (day 8) is outside it.
    history = CONSENTED + [ev(f"2025-05-05T{h:02d}:00:00-04:00") for h in range(9, 16)]
    assert not decide(PACK, history, prop("2025-05-11T20:00:00-04:00")).allowed
    assert decide(PACK, history, prop("2025-05-12T08:00:00-04:00")).allowed


def test_regf_1006_14_b_2_i_A_call_about_two_debts_when_one_has_reached_its_cap() -> None:
    history = CONSENTED + calls(range(5, 12), debts=("d1",))
    both = decide(PACK, history, prop("2025-05-11T15:00:00-04:00", debts=("d1", "d2")))
    assert not both.allowed
    assert "debt d1: 7 of 7" in rule(both, "regf-call-frequency").detail
    only_d2 = decide(PACK, history, prop("2025-05-11T15:00:00-04:00", debts=("d2",)))
    assert only_d2.allowed, only_d2.to_dict()


def test_regf_1006_14_b_2_i_A_a_call_about_two_debts_counts_for_each() -> None:
    history = CONSENTED + calls(range(5, 12), debts=("d1", "d2"))
    d = decide(PACK, history, prop("2025-05-11T15:00:00-04:00", debts=("d2",)))
    assert not rule(d, "regf-call-frequency").ok


def test_regf_1006_14_b_3_ii_busy_and_not_in_service_calls_do_not_count() -> None:
    history = CONSENTED + calls(range(5, 11))  # six counted calls
    history += [ev("2025-05-07T11:00:00-04:00", outcome="busy") for _ in range(3)]
    history += [ev("2025-05-08T11:00:00-04:00", outcome="not_in_service") for _ in range(2)]
    d = decide(PACK, history, prop("2025-05-11T15:00:00-04:00"))
    assert d.allowed, d.to_dict()
    assert "6 of 7" in rule(d, "regf-call-frequency").detail
    history.append(ev("2025-05-09T12:00:00-04:00", outcome="voicemail"))
    assert not decide(PACK, history, prop("2025-05-11T15:00:00-04:00")).allowed


def test_regf_1006_14_b_2_i_B_no_call_within_7_days_of_a_conversation() -> None:
    # Conversation on Monday May 5 = day 1; days 1..7 end on Sunday May 11.
    history = [*CONSENTED, ev("2025-05-05T10:00:00-04:00", outcome="conversation")]
    last_day = decide(PACK, history, prop("2025-05-11T20:59:00-04:00"))
    assert not last_day.allowed
    assert not rule(last_day, "regf-conversation-cooldown").ok
    first_free_day = decide(PACK, history, prop("2025-05-12T08:00:00-04:00"))
    assert first_free_day.allowed, first_free_day.to_dict()


def test_regf_1006_14_b_2_i_B_conversation_the_consumer_initiated_counts() -> None:
    inbound = ev("2025-05-05T18:00:00-04:00", outcome="conversation", direction="inbound")
    d = decide(PACK, [*CONSENTED, inbound], prop("2025-05-08T10:00:00-04:00"))
    assert not rule(d, "regf-conversation-cooldown").ok


def test_regf_1006_14_b_2_i_B_cooldown_is_per_debt() -> None:
    history = [*CONSENTED, ev("2025-05-05T10:00:00-04:00", outcome="conversation")]
    other = decide(PACK, history, prop("2025-05-06T10:00:00-04:00", debts=("d2",)))
    assert other.allowed, other.to_dict()


def test_regf_1006_14_b_2_i_B_cooldown_does_not_stop_messages() -> None:
    history = [ev("2025-05-05T10:00:00-04:00", outcome="conversation")]
    d = decide(PACK, history, prop("2025-05-06T10:00:00-04:00", channel="email"))
    assert d.allowed, d.to_dict()


def test_regf_1006_6_b_1_i_8am_to_9pm_boundaries() -> None:
    def at(hhmm: str) -> bool:
        return decide(PACK, CONSENTED, prop(f"2025-05-06T{hhmm}:00-04:00")).allowed

    assert not at("07:59")
    assert at("08:00")
    assert at("20:59")
    assert not at("21:00")


def test_regf_1006_6_b_1_i_two_time_zones_must_both_be_convenient() -> None:
    zones = ("America/New_York", "America/Los_Angeles")
    early_west = decide(PACK, CONSENTED, prop("2025-05-06T10:30:00-04:00", tz=zones))
    assert not early_west.allowed
    assert "America/Los_Angeles" in rule(early_west, "regf-inconvenient-time").detail
    assert decide(PACK, CONSENTED, prop("2025-05-06T11:00:00-04:00", tz=zones)).allowed
    late_east = decide(PACK, CONSENTED, prop("2025-05-06T21:30:00-04:00", tz=zones))
    assert not late_east.allowed


def test_regf_1006_6_b_1_i_hours_apply_to_text_messages() -> None:
    history = [consent("2025-01-02T12:00:00-05:00", "sms")]
    assert not decide(PACK, history, prop("2025-05-06T22:00:00-04:00", channel="sms")).allowed


def test_regf_1006_6_e_opt_out_of_email_blocks_email_only() -> None:
    history = [
        *CONSENTED,
        ev("2025-05-01T09:00:00-04:00", kind="opt_out", channel="email", debts=()),
    ]
    email = decide(PACK, history, prop("2025-05-06T10:00:00-04:00", channel="email"))
    assert not email.allowed
    assert not rule(email, "regf-opt-out").ok
    assert decide(PACK, history, prop("2025-05-06T10:00:00-04:00")).allowed


def test_regf_1006_14_h_opt_out_of_one_address_leaves_the_other() -> None:
    history = [
        ev(
            "2025-05-01T09:00:00-04:00",
            kind="opt_out",
            channel="email",
            debts=(),
            contact_point="old@example.com",
        )
    ]
    old = prop("2025-05-06T10:00:00-04:00", channel="email", contact_point="old@example.com")
    new = prop("2025-05-06T10:00:00-04:00", channel="email", contact_point="new@example.com")
    assert not decide(PACK, history, old).allowed
    assert decide(PACK, history, new).allowed


def test_regf_1006_6_e_consent_given_after_an_opt_out_restores_the_channel() -> None:
    history = [
        ev("2025-05-01T09:00:00-04:00", kind="opt_out", channel="email", debts=()),
        consent("2025-05-03T09:00:00-04:00", "email"),
    ]
    assert decide(PACK, history, prop("2025-05-06T10:00:00-04:00", channel="email")).allowed


def test_regf_1006_6_c_1_cease_request_blocks_every_channel() -> None:
    history = [
        *CONSENTED,
        ev("2025-05-01T09:00:00-04:00", kind="cease", channel="email", debts=()),
    ]
    for channel in ("voice", "sms", "whatsapp", "email"):
        d = decide(PACK, history, prop("2025-05-06T10:00:00-04:00", channel=channel))
        assert not d.allowed and not rule(d, "regf-cease").ok


def test_regf_1006_6_c_1_cease_is_lifted_only_by_a_later_consent() -> None:
    cease = ev("2025-05-01T09:00:00-04:00", kind="cease", channel="email", debts=())
    # CONSENTED (January) came before the cease: it is what the cease withdrew.
    d = decide(PACK, [*CONSENTED, cease], prop("2025-05-06T10:00:00-04:00"))
    assert not rule(d, "regf-cease").ok
    same_instant = consent("2025-05-01T09:00:00-04:00", "voice")
    d = decide(PACK, [*CONSENTED, cease, same_instant], prop("2025-05-06T10:00:00-04:00"))
    assert not rule(d, "regf-cease").ok
    later = consent("2025-05-03T09:00:00-04:00", "voice")
    d = decide(PACK, [*CONSENTED, cease, later], prop("2025-05-06T10:00:00-04:00"))
    assert rule(d, "regf-cease").ok and "lifted by consent" in rule(d, "regf-cease").detail
    # The consent is per channel: the voice consent does not reopen SMS.
    d = decide(PACK, [*CONSENTED, cease, later], prop("2025-05-06T10:00:00-04:00", channel="sms"))
    assert not rule(d, "regf-cease").ok
    # A second cease after the consent holds again.
    again = ev("2025-05-04T09:00:00-04:00", kind="cease", channel="email", debts=())
    d = decide(PACK, [*CONSENTED, cease, later, again], prop("2025-05-06T10:00:00-04:00"))
    assert not rule(d, "regf-cease").ok


def test_tcpa_227_b_1_A_iii_autodialed_call_to_unknown_line_needs_consent() -> None:
    d = decide(PACK, [], prop("2025-05-06T10:00:00-04:00"))
    assert not d.allowed
    assert "no consent record" in rule(d, "tcpa-autodialed-mobile-consent").detail


def test_tcpa_227_b_1_A_iii_landline_and_manual_calls_need_no_consent() -> None:
    assert decide(PACK, [], prop("2025-05-06T10:00:00-04:00", line_type="landline")).allowed
    manual = prop("2025-05-06T10:00:00-04:00", line_type="mobile", autodialed=False)
    assert decide(PACK, [], manual).allowed


def test_tcpa_227_b_1_A_iii_revoked_consent_refuses() -> None:
    history = [*CONSENTED, consent("2025-05-02T09:00:00-04:00", "voice", granted=False)]
    d = decide(PACK, history, prop("2025-05-06T10:00:00-04:00"))
    assert not rule(d, "tcpa-autodialed-mobile-consent").ok


def test_regf_later_history_is_ignored_for_an_earlier_proposal() -> None:
    # An audit re-evaluates an attempt with the whole ledger at hand: what came
    # after it cannot have made it unlawful.
    history = CONSENTED + calls(range(5, 12))
    assert decide(PACK, history, prop("2025-05-05T09:00:00-04:00")).allowed
