"""The interchange types, the pack files, and evaluate's fail-closed paths."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compliance import (
    ComplianceInputError,
    PackError,
    Proposal,
    available_packs,
    event_from_dict,
    event_to_dict,
    load_pack,
    load_packs,
    parse_pack,
    proposal_from_dict,
)
from tests.compliance.builders import decide, ev, prop

GOOD = {
    "at": "2025-05-05T10:00:00-04:00",
    "customer_id": "c1",
    "debt_ids": ["d1", "d2"],
    "channel": "voice",
    "direction": "outbound",
    "kind": "attempt",
    "outcome": "conversation",
    "contact_point": "+15555550100",
    "campaign": "late-30",
    "agent": "a7",
    "duration_s": 95.0,
}


def test_event_round_trips_through_the_interchange_dict() -> None:
    e = event_from_dict(GOOD)
    # The instant is kept and normalised to UTC, so ledger comparisons stay cheap.
    assert event_to_dict(e) == GOOD | {"at": "2025-05-05T14:00:00+00:00"}
    assert event_from_dict(event_to_dict(e)) == e
    promise = ev("2025-05-05T10:00:00-04:00", kind="promise", until="2025-05-09")
    assert event_from_dict(event_to_dict(promise)) == promise


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"at": "2025-05-05T10:00:00"}, "at", "without UTC offset"),
        ({"at": "yesterday"}, "at", "not an ISO 8601"),
        ({"debt_ids": "d1"}, "debt_ids", "list of ids"),
        ({"channel": "fax"}, "channel", "voice|sms|whatsapp|email"),
        ({"outcome": "delivered"}, "outcome", "no_answer|busy"),
        ({"kind": "consent"}, "outcome", "only attempts"),
        ({"duration_s": -1}, "duration_s", ">= 0"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"customer_id": ""}, "customer_id", "empty id"),
    ],
)
def test_event_errors_name_the_field(change: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(ComplianceInputError) as info:
        event_from_dict({**GOOD, **change}, where="history.jsonl:7")
    assert info.value.field == f"history.jsonl:7.{field}"
    assert problem in info.value.problem


def test_promise_needs_its_date_and_its_debts() -> None:
    base = {k: v for k, v in GOOD.items() if k != "outcome"} | {"kind": "promise"}
    with pytest.raises(ComplianceInputError, match="until"):
        event_from_dict(base)
    with pytest.raises(ComplianceInputError, match="debt_ids"):
        event_from_dict(base | {"until": "2025-05-09", "debt_ids": []})


def test_proposal_defaults_and_errors() -> None:
    p = proposal_from_dict(
        {
            "at": "2025-05-05T10:00:00Z",
            "customer_id": 7,
            "debt_ids": [],
            "channel": "email",
            "timezones": ["UTC"],
        }
    )
    assert p.customer_id == "7" and p.line_type == "unknown" and p.autodialed is False
    assert p.at == datetime(2025, 5, 5, 10, tzinfo=UTC)
    with pytest.raises(ComplianceInputError, match="timezones"):
        proposal_from_dict(
            {
                "at": "2025-05-05T10:00:00Z",
                "customer_id": "c",
                "debt_ids": [],
                "channel": "sms",
                "timezones": [],
            }
        )


def test_every_shipped_pack_loads_with_citations_and_descriptions() -> None:
    names = available_packs()
    assert set(names) >= {
        "us-regf",
        "us-ma",
        "us-nyc",
        "co-ley2300",
        "cl-ley21320",
        "pe-ley29571",
        "mx-condusef",
        "ec-lodc",
        "uk-ofcom",
        "house",
    }
    ids = []
    for name in names:
        pack = load_pack(name)
        for rule in pack.rules:
            assert rule.citation.strip() and len(rule.description) > 20, rule.id
            ids.append(rule.id)
    assert len(ids) == len(set(ids))
    assert [p.name for p in load_packs("us-regf, house,us-regf")] == ["us-regf", "house"]


def test_ambiguous_week_is_described_as_the_stricter_reading() -> None:
    for name, rid in (
        ("cl-ley21320", "cl-una-llamada-semanal"),
        ("us-nyc", "nyc-three-attempts-per-seven-days"),
    ):
        (rule,) = [r for r in load_pack(name).rules if r.id == rid]
        assert "stricter" in rule.description and rule.window == "rolling_days"


def test_pack_errors_name_the_rule_and_parameter() -> None:
    text = """
name = "x"
title = "t"
jurisdiction = "XX"
[[rules]]
id = "cap"
kind = "frequency_cap"
citation = "c"
description = "d"
max = 0
window = "rolling_days"
days = 7
scope = "debt"
"""
    with pytest.raises(PackError, match=r"x\.cap\.max"):
        parse_pack(text, "x.toml")
    with pytest.raises(PackError, match=r"x\.cap\.colour"):
        parse_pack(text.replace("max = 0", "max = 1\ncolour = 1"), "x.toml")
    with pytest.raises(PackError, match="unknown pack 'nope'"):
        load_pack("nope")


def test_fail_closed_unknown_time_zone() -> None:
    d = decide(
        "mx-condusef",
        [],
        prop("2025-05-05T10:00:00-06:00", tz=("America/Mexico_City", "Mars/Olympus")),
    )
    assert not d.allowed
    assert d.results[0].rule == "input.timezones" and "Mars/Olympus" in d.results[0].detail


def test_fail_closed_on_a_zone_name_the_filesystem_rejects() -> None:
    # ZoneInfo opens a file named after the key: an over-long name raised OSError.
    d = decide("mx-condusef", [], prop("2025-05-05T10:00:00-06:00", tz=("A" * 300,)))
    assert not d.allowed and d.results[0].rule == "input.timezones"


def test_fail_closed_history_of_another_customer() -> None:
    other = ev("2025-05-01T10:00:00-04:00", customer="c2")
    d = decide("house", [other], prop("2025-05-05T10:00:00-04:00"))
    assert not d.allowed and d.results[0].rule == "input.history"


def test_fail_closed_unreadable_history_and_naive_proposal() -> None:
    d = decide("house", [{"at": "2025-05-01"}], prop("2025-05-05T10:00:00-04:00"))  # type: ignore[list-item]
    assert not d.allowed and "not an Event" in d.results[0].detail
    naive = Proposal(datetime(2025, 5, 5, 10), "c1", (), "voice", ("UTC",))
    assert not decide("house", [], naive).allowed


def test_decision_dict_matches_the_cli_contract() -> None:
    out = decide(
        "mx-condusef", [], prop("2025-05-05T10:00:00-06:00", tz=("America/Mexico_City",))
    ).to_dict()
    assert out["allowed"] is True
    assert out["rules"] == [
        {
            "rule": "mx-horario",
            "citation": load_pack("mx-condusef").rules[0].citation,
            "ok": True,
            "detail": out["rules"][0]["detail"],
        }  # type: ignore[index]
    ]
