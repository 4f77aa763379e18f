"""Delivery events and opt-outs from provider webhooks, written to the ledger.

Every write happens under the ledger lock, in one transaction per webhook
request, and is idempotent by the provider's own event id: a webhook retried
by the provider is recorded once. An attempt's outcome never moves backwards
(a late "sent" callback after "delivered" is ignored), because compliance
reads the latest outcome row of an attempt.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.ledger.chain import EVENTS, LedgerEntry, append, existing_keys, lock_ledger
from campaigns.messaging.outcomes import latest_outcomes, regresses
from campaigns.storage.models import ContactPoint, Customer
from channels import OptInEvent, OptOutEvent


@dataclass(frozen=True)
class OutcomeEvent:
    """A provider event that settles (part of) one of our attempts."""

    attempt_id: int
    outcome: str
    key: str  # provider event id based idempotency key
    at: dt.datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordSummary:
    """What a webhook request changed: ``recorded`` rows, and what it ignored and why."""

    recorded: int = 0
    duplicates: int = 0
    stale: int = 0
    unknown: int = 0
    opt_outs: int = 0

    def merge(self, other: RecordSummary) -> None:
        """Add ``other``'s counts to this one."""
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def record_outcome_events(
    engine: Engine, events: Sequence[OutcomeEvent], *, now: dt.datetime
) -> RecordSummary:
    """Append the outcome rows ``events`` call for, once each, never regressing."""
    summary = RecordSummary()
    if not events:
        return summary
    with engine.begin() as conn:
        lock_ledger(conn)
        ids = {e.attempt_id for e in events}
        attempts = {
            int(r.id): r
            for r in conn.execute(
                sa.select(EVENTS).where(
                    EVENTS.c.id.in_(ids), EVENTS.c.kind == "attempt", EVENTS.c.resolves_id.is_(None)
                )
            )
        }
        current = latest_outcomes(conn, attempts)
        seen = existing_keys(conn, (e.key for e in events))
        entries: list[LedgerEntry] = []
        for e in events:
            attempt = attempts.get(e.attempt_id)
            if e.key in seen:
                summary.duplicates += 1
                continue
            if attempt is None:
                summary.unknown += 1
                continue
            if regresses(current.get(e.attempt_id), e.outcome):
                summary.stale += 1
                continue
            seen[e.key] = 0
            current[e.attempt_id] = e.outcome
            entries.append(
                LedgerEntry(
                    at=e.at,
                    customer_id=attempt.customer_id,
                    debt_ids=tuple(json.loads(attempt.debt_ids)),
                    channel=attempt.channel,
                    direction=attempt.direction,
                    kind="attempt",
                    outcome=e.outcome,
                    status="final",
                    resolves_id=e.attempt_id,
                    contact_point=attempt.contact_point,
                    line_type=attempt.line_type,
                    campaign=attempt.campaign,
                    extra=e.extra,
                    idempotency_key=e.key,
                )
            )
        append(conn, entries, now=now)
        summary.recorded = len(entries)
    return summary


def _points(conn: Connection, channel: str, contact: str) -> list[Any]:
    kind = "email" if channel == "email" else "phone"
    # The portfolio loader stores emails lower-cased, so an equality on the
    # lowered address uses ix_contact_points_kind_value; lower(value) could not.
    value = contact.strip().lower() if kind == "email" else contact
    match = ContactPoint.value == value
    return list(
        conn.execute(
            sa.select(
                ContactPoint.id,
                ContactPoint.value,
                ContactPoint.line_type,
                ContactPoint.opted_out_at,
                Customer.external_id,
            )
            .join(Customer, Customer.id == ContactPoint.customer_id)
            .where(ContactPoint.kind == kind, match)
        )
    )


def record_opt_out(
    engine: Engine, event: OptOutEvent, *, at: dt.datetime, now: dt.datetime
) -> RecordSummary:
    """An opt-out: one ``opt_out`` ledger event per customer owning the contact point,
    and ``contact_points.opted_out_at`` set (sticky: an earlier date is kept)."""
    summary = RecordSummary()
    with engine.begin() as conn:
        lock_ledger(conn)
        points = _points(conn, event.channel, event.contact)
        if not points:
            summary.unknown += 1
            return summary
        extra = {"reason": event.reason, "provider": event.provider}
        fresh = _fresh_point_entries(conn, points, event, "opt_out", extra, at=at, summary=summary)
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.id.in_([p.id for p in points]), ContactPoint.opted_out_at.is_(None))
            .values(opted_out_at=at)
        )
        append(conn, fresh, now=now)
        summary.recorded = summary.opt_outs = len(fresh)
    return summary


def _fresh_point_entries(
    conn: Connection,
    points: Sequence[Any],
    event: OptOutEvent | OptInEvent,
    kind: str,
    extra: dict[str, Any],
    *,
    at: dt.datetime,
    summary: RecordSummary,
) -> list[LedgerEntry]:
    """One inbound ``kind`` row per customer owning the point, minus those already recorded."""
    text = {"text": event.text[:160]} if event.text else {}
    tag = "opt_out" if kind == "opt_out" else "opt_in"
    entries = [
        LedgerEntry(
            at=at,
            customer_id=p.external_id,
            debt_ids=(),
            channel=event.channel,
            direction="inbound",
            kind=kind,
            contact_point=p.value,
            line_type=p.line_type,
            extra={**extra, **text},
            idempotency_key=f"{event.provider}:{event.source_event_id}:{tag}:{p.external_id}",
        )
        for p in points
    ]
    present = existing_keys(conn, (e.idempotency_key for e in entries if e.idempotency_key))
    fresh = [e for e in entries if e.idempotency_key not in present]
    summary.duplicates = len(entries) - len(fresh)
    return fresh


def mark_unreachable(engine: Engine, channel: str, contact: str, *, at: dt.datetime) -> int:
    """A hard bounce or a dead number: flag the contact point so no job uses it again.

    Not an opt-out (the debtor asked nothing), so ``wrong_number_at`` rather
    than ``opted_out_at``; the message jobs skip flagged points. Sticky.
    """
    with engine.begin() as conn:
        ids = [p.id for p in _points(conn, channel, contact)]
        if not ids:
            return 0
        return int(
            conn.execute(
                sa.update(ContactPoint)
                .where(ContactPoint.id.in_(ids), ContactPoint.wrong_number_at.is_(None))
                .values(wrong_number_at=at)
            ).rowcount
        )


def latest_attempt_to(engine: Engine, channel: str, contact: str) -> int | None:
    """Our newest outbound attempt to ``contact`` on ``channel`` (what a reply answers)."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(sa.func.max(EVENTS.c.id)).where(
                EVENTS.c.kind == "attempt",
                EVENTS.c.direction == "outbound",
                EVENTS.c.resolves_id.is_(None),
                EVENTS.c.channel == channel,
                EVENTS.c.contact_point == contact,
            )
        ).scalar()
    return int(found) if found is not None else None


def record_opt_in(
    engine: Engine, event: OptInEvent, *, at: dt.datetime, now: dt.datetime
) -> RecordSummary:
    """A number's START after a STOP: a ``consent`` ledger event on its text channel.

    Only a number that opted out is re-subscribed (a START from anyone else
    changes nothing). Its sticky ``opted_out_at`` is cleared only when every
    opt-out the ledger holds for it was a text keyword: an opt-out asked of an
    agent, or by email, is not the carrier's to lift, and stays.
    """
    summary = RecordSummary()
    with engine.begin() as conn:
        lock_ledger(conn)
        points = [p for p in _points(conn, event.channel, event.contact) if p.opted_out_at]
        if not points:
            summary.unknown += 1
            return summary
        extra = {"granted": True, "reason": "keyword", "provider": event.provider}
        fresh = _fresh_point_entries(conn, points, event, "consent", extra, at=at, summary=summary)
        lifted = [p.id for p in points if _only_keyword_opt_outs(conn, p.value)]
        if lifted:
            conn.execute(
                sa.update(ContactPoint).where(ContactPoint.id.in_(lifted)).values(opted_out_at=None)
            )
        append(conn, fresh, now=now)
        summary.recorded = len(fresh)
    return summary


def _only_keyword_opt_outs(conn: Connection, value: str) -> bool:
    """Whether every opt-out the ledger holds for ``value`` came from a text keyword."""
    rows = conn.execute(
        sa.select(EVENTS.c.channel, EVENTS.c.extra).where(
            EVENTS.c.kind == "opt_out", EVENTS.c.contact_point == value
        )
    ).all()
    return bool(rows) and all(
        channel in ("sms", "whatsapp") and json.loads(extra or "{}").get("reason") == "keyword"
        for channel, extra in rows
    )
