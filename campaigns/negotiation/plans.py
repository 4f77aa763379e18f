"""A plan's (or a settlement's) promises: one ``promise`` ledger event and one tracked promise
per instalment, as the portal's plan and the desk's offers both take them.

Each event holds further contact while pending (house rule H-1) and carries
``until``, ``amount``, ``currency``, ``instalment`` and ``instalments`` in
``extra`` beside what the caller names (the plan, the link or the agent, the
approver); each ``promises`` row is settled kept, partly kept or broken by
the payments machinery (``campaigns.payments``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from campaigns.ledger.chain import LedgerEntry, append
from campaigns.payments.taken import insert_promise
from campaigns.portal.offers import Instalment


@dataclass(frozen=True)
class PlanTaken:
    """Who took which schedule, through which channel; ``key`` prefixes the events' keys."""

    customer_pk: int
    customer_id: str
    campaign: str | None
    debt_ids: tuple[str, ...]
    currency: str
    instalments: Sequence[Instalment]
    channel: str
    direction: str
    source: str  # the promises' source: an agent id, or "self_service"
    key: str
    agent: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def take_plan(conn: Connection, plan: PlanTaken, *, now: dt.datetime) -> list[int]:
    """Append the plan's promise events and track each instalment; the promise ids.

    The caller holds the ledger lock (``lock_ledger``) and has checked that
    ``plan.key`` was not taken before (a replay).
    """
    count = len(plan.instalments)
    entries = [
        LedgerEntry(
            at=now,
            customer_id=plan.customer_id,
            debt_ids=plan.debt_ids,
            channel=plan.channel,
            direction=plan.direction,
            kind="promise",
            campaign=plan.campaign,
            agent=plan.agent,
            extra={
                **plan.extra,
                "until": i.due_on.isoformat(),
                "amount": str(i.amount),
                "currency": plan.currency,
                "instalment": i.number,
                "instalments": count,
            },
            idempotency_key=f"{plan.key}:{i.number}",
        )
        for i in plan.instalments
    ]
    ledger_ids = append(conn, entries, now=now)
    return [
        insert_promise(
            conn,
            customer_pk=plan.customer_pk,
            account_pk=None,
            amount=i.amount,
            currency=plan.currency,
            due_on=i.due_on,
            created_at=now,
            source=plan.source,
            campaign=plan.campaign,
            ledger_event_id=ledger_id,
        )
        for i, ledger_id in zip(plan.instalments, ledger_ids, strict=True)
    ]
