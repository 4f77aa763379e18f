"""Concise builders for ledger events and proposals in compliance tests.

Events go through ``event_from_dict`` so the tests exercise the interchange
validation too. Times are local ISO strings with their offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compliance import (
    Decision,
    Event,
    Proposal,
    RuleResult,
    evaluate,
    event_from_dict,
    load_packs,
    proposal_from_dict,
)


def ev(
    at: str,
    kind: str = "attempt",
    channel: str = "voice",
    outcome: str | None = None,
    debts: Sequence[str] = ("d1",),
    customer: str = "c1",
    direction: str = "outbound",
    **extra: Any,
) -> Event:
    """One ledger event; attempts default to an unanswered call / a sent message."""
    if kind == "attempt" and outcome is None:
        outcome = "no_answer" if channel == "voice" else "sent"
    d: dict[str, Any] = {
        "at": at,
        "customer_id": customer,
        "debt_ids": list(debts),
        "channel": channel,
        "direction": direction,
        "kind": kind,
        **extra,
    }
    if outcome is not None:
        d["outcome"] = outcome
    return event_from_dict(d)


def consent(at: str, channel: str, **extra: Any) -> Event:
    """A consent record (granted unless ``granted=False``)."""
    return ev(at, kind="consent", channel=channel, debts=(), direction="inbound", **extra)


def prop(
    at: str,
    channel: str = "voice",
    debts: Sequence[str] = ("d1",),
    tz: Sequence[str] = ("America/New_York",),
    **extra: Any,
) -> Proposal:
    """A proposal for customer c1."""
    return proposal_from_dict(
        {
            "at": at,
            "customer_id": "c1",
            "debt_ids": list(debts),
            "channel": channel,
            "timezones": list(tz),
            **extra,
        }
    )


def decide(packs: str, history: Sequence[Event], proposal: Proposal) -> Decision:
    """Evaluate with the shipped packs named in ``packs`` (comma-separated)."""
    return evaluate(load_packs(packs), history, proposal)


def rule(decision: Decision, rule_id: str) -> RuleResult:
    """The result of ``rule_id`` in ``decision`` (fails the test if absent)."""
    found = [r for r in decision.results if r.rule == rule_id]
    assert found, f"{rule_id} not consulted: {[r.rule for r in decision.results]}"
    return found[0]


def calls(
    days: Sequence[int], month: str = "2025-05", hour: str = "10:00", **kw: Any
) -> list[Event]:
    """One outbound call a day at ``hour`` New York time (EDT) on each of ``days``."""
    return [ev(f"{month}-{d:02d}T{hour}:00-04:00", **kw) for d in days]
