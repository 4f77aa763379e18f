"""Colombia (Ley 2300 de 2023), Chile (Ley 19.496 art. 37, Ley 21.320), Peru
(Ley 29571 art. 62), Mexico (CONDUSEF) and Ecuador (LODC).

May 5, 2025 is a Monday. Offsets in May 2025: Bogotá, Lima, Guayaquil -05:00;
Santiago -04:00; Mexico City -06:00.
"""

from __future__ import annotations

from compliance import Event
from tests.compliance.builders import consent, decide, ev, prop, rule

BOG = ("America/Bogota",)
SCL = ("America/Santiago",)
LIM = ("America/Lima",)
MEX = ("America/Mexico_City",)
GYE = ("America/Guayaquil",)
CO_AUTH = [consent("2025-01-02T12:00:00-05:00", c) for c in ("voice", "sms", "whatsapp")]


def co(at: str, history: list[Event] | None = None, channel: str = "voice") -> bool:
    hist = CO_AUTH + (history or [])
    return decide("co-ley2300", hist, prop(at, channel=channel, tz=BOG)).allowed


def test_co_ley2300_art3_weekday_hours_7_to_19() -> None:
    assert not co("2025-05-06T06:59:00-05:00")
    assert co("2025-05-06T07:00:00-05:00")
    assert co("2025-05-06T18:59:00-05:00")
    assert not co("2025-05-06T19:00:00-05:00")


def test_co_ley2300_art3_saturday_8_to_15_and_no_sunday() -> None:
    assert not co("2025-05-10T07:30:00-05:00")
    assert co("2025-05-10T14:59:00-05:00")
    assert not co("2025-05-10T15:00:00-05:00")
    assert not co("2025-05-11T10:00:00-05:00")


def test_co_ley2300_art3_no_contact_on_a_public_holiday() -> None:
    d = decide("co-ley2300", CO_AUTH, prop("2025-08-07T10:00:00-05:00", tz=BOG))
    assert not d.allowed
    assert "public holiday" in rule(d, "co-horario").detail


def test_co_ley2300_art3_one_contact_a_day_across_channels() -> None:
    morning = [ev("2025-05-06T08:00:00-05:00", channel="sms")]
    assert not co("2025-05-06T16:00:00-05:00", morning)
    assert not co("2025-05-06T16:00:00-05:00", morning, channel="whatsapp")
    assert co("2025-05-07T07:00:00-05:00", morning, channel="sms")


def test_co_ley2300_art3_not_several_channels_in_the_same_week() -> None:
    monday = [ev("2025-05-05T10:00:00-05:00", channel="sms")]
    d = decide("co-ley2300", CO_AUTH + monday, prop("2025-05-07T10:00:00-05:00", tz=BOG))
    assert not d.allowed
    assert not rule(d, "co-un-canal-por-semana").ok
    assert co("2025-05-07T10:00:00-05:00", monday, channel="sms")
    # Read as 7 rolling days: Saturday is inside, the following Monday is not.
    saturday = decide("co-ley2300", CO_AUTH + monday, prop("2025-05-10T10:00:00-05:00", tz=BOG))
    assert not rule(saturday, "co-un-canal-por-semana").ok
    assert co("2025-05-12T10:00:00-05:00", monday)


def test_co_ley2300_art2_only_authorised_channels() -> None:
    d = decide("co-ley2300", CO_AUTH, prop("2025-05-06T10:00:00-05:00", channel="email", tz=BOG))
    assert not d.allowed
    assert not rule(d, "co-canales-autorizados").ok
    landline = prop("2025-05-06T10:00:00-05:00", tz=BOG, line_type="landline")
    assert not decide("co-ley2300", [], landline).allowed


def test_co_ley2300_art2_withdrawn_channel() -> None:
    history = [ev("2025-05-01T10:00:00-05:00", kind="opt_out", channel="sms", debts=())]
    assert not co("2025-05-06T10:00:00-05:00", history, channel="sms")


def cl(at: str, history: list[Event], channel: str = "voice") -> bool:
    return decide("cl-ley21320", history, prop(at, channel=channel, tz=SCL)).allowed


def test_cl_art37_hours_8_to_20_monday_to_saturday() -> None:
    assert not cl("2025-05-06T07:59:00-04:00", [])
    assert cl("2025-05-06T08:00:00-04:00", [])
    assert cl("2025-05-10T19:59:00-04:00", [])
    assert not cl("2025-05-06T20:00:00-04:00", [])
    assert not cl("2025-05-11T10:00:00-04:00", [])


def test_cl_art37_no_contact_on_navy_day_holiday() -> None:
    assert not cl("2025-05-21T10:00:00-04:00", [])


def test_cl_art37_one_call_a_week_read_as_seven_rolling_days() -> None:
    # Saturday then Monday would be two calendar weeks; the stricter rolling
    # reading refuses it, and frees the call seven days later.
    saturday = [ev("2025-05-10T10:00:00-04:00")]
    assert not cl("2025-05-12T10:00:00-04:00", saturday)
    assert not cl("2025-05-16T10:00:00-04:00", saturday)
    assert cl("2025-05-17T08:00:00-04:00", saturday)


def test_cl_art37_messages_at_least_two_days_apart() -> None:
    monday = [ev("2025-05-05T10:00:00-04:00", channel="sms")]
    assert not cl("2025-05-06T10:00:00-04:00", monday, channel="whatsapp")
    tue = decide("cl-ley21320", monday, prop("2025-05-07T09:59:00-04:00", channel="sms", tz=SCL))
    assert not rule(tue, "cl-mensajes-separados-dos-dias").ok  # 48 hours not yet elapsed
    assert cl("2025-05-07T10:00:00-04:00", monday, channel="sms")


def test_cl_art37_third_message_in_a_week_refused() -> None:
    two = [
        ev("2025-05-05T10:00:00-04:00", channel="sms"),
        ev("2025-05-07T10:00:00-04:00", channel="email"),
    ]
    d = decide("cl-ley21320", two, prop("2025-05-10T10:00:00-04:00", channel="email", tz=SCL))
    assert not d.allowed
    assert "2 of 2" in rule(d, "cl-dos-mensajes-semanales").detail
    assert cl("2025-05-12T10:00:00-04:00", two, channel="email")


def test_cl_art37_a_call_does_not_use_the_message_allowance() -> None:
    assert cl("2025-05-06T10:00:00-04:00", [ev("2025-05-05T10:00:00-04:00")], channel="sms")


def pe(at: str, channel: str = "voice") -> bool:
    return decide("pe-ley29571", [], prop(at, channel=channel, tz=LIM)).allowed


def test_pe_ley29571_art62_no_calls_between_20_and_7() -> None:
    assert not pe("2025-05-06T06:59:00-05:00")
    assert pe("2025-05-06T07:00:00-05:00")
    assert pe("2025-05-06T19:59:00-05:00")
    assert not pe("2025-05-06T20:00:00-05:00")


def test_pe_ley29571_art62_no_calls_on_saturday_sunday_or_holidays() -> None:
    assert not pe("2025-05-10T10:00:00-05:00")
    assert not pe("2025-05-11T10:00:00-05:00")
    assert not pe("2025-07-28T10:00:00-05:00")  # Independence Day


def test_pe_ley29571_art62_speaks_of_calls_only() -> None:
    assert pe("2025-05-10T21:00:00-05:00", channel="email")


def mx(at: str) -> bool:
    return decide("mx-condusef", [], prop(at, tz=MEX)).allowed


def test_mx_condusef_contact_between_7_and_22() -> None:
    assert not mx("2025-05-06T06:59:00-06:00")
    assert mx("2025-05-06T07:00:00-06:00")
    assert mx("2025-05-11T21:59:00-06:00")  # Sundays are not excluded
    assert not mx("2025-05-06T22:00:00-06:00")


def ec(at: str, history: list[Event] | None = None) -> bool:
    return decide("ec-lodc", history or [], prop(at, tz=GYE)).allowed


def test_ec_lodc_weekdays_7_to_20_only() -> None:
    assert not ec("2025-05-06T06:59:00-05:00")
    assert ec("2025-05-06T19:59:00-05:00")
    assert not ec("2025-05-06T20:00:00-05:00")
    assert not ec("2025-05-10T10:00:00-05:00")
    assert not ec("2025-05-11T10:00:00-05:00")


def test_ec_lodc_no_contact_on_observed_holiday() -> None:
    assert not ec("2025-05-23T10:00:00-05:00")  # Battle of Pichincha (observed)


def test_ec_lodc_one_contact_a_day() -> None:
    morning = [ev("2025-05-06T08:00:00-05:00", channel="email")]
    assert not ec("2025-05-06T15:00:00-05:00", morning)
    assert ec("2025-05-07T07:00:00-05:00", morning)
