"""Ledger rows as compliance histories: what ``compliance.evaluate`` and allowances read.

Two sources make one history: the ledger's rows, and the consent state of the
customer's contact points (from the bank's file, kept current by webhooks and
agents). An attempt still ``pending`` is read as its worst case, so a contact
in flight blocks as much as it could once its outcome is known.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.chain import NOT_CONTACTS
from campaigns.reach import POINT_CHANNELS, POINT_KIND
from campaigns.storage.models import ContactEventRow, ContactPoint, Customer
from campaigns.storage.sql import one_of
from compliance import Event

EVENTS: sa.Table = ContactEventRow.__table__  # type: ignore[assignment]
# A call in flight may yet become a conversation (Reg F's 7-day cooldown, the
# strictest consequence); a message in flight may yet be delivered.
PENDING_WORST_OUTCOME = {
    "voice": "conversation",
    "sms": "delivered",
    "whatsapp": "delivered",
    "email": "delivered",
}
CHUNK = 500


def _event(row: Any, outcome: str | None, resolution: Any = None) -> Event:
    extra = json.loads(row.extra) if row.extra else {}
    until = extra.get("until")
    return Event(
        at=row.at,
        customer_id=row.customer_id,
        debt_ids=tuple(json.loads(row.debt_ids)),
        channel=row.channel,
        direction=row.direction,
        kind=row.kind,
        outcome=outcome,
        contact_point=row.contact_point,
        campaign=row.campaign,
        # Who talked and for how long is known only when the outcome arrives.
        agent=resolution.agent if resolution is not None and resolution.agent else row.agent,
        duration_s=(
            resolution.duration_s
            if resolution is not None and resolution.duration_s is not None
            else row.duration_s
        ),
        line_type=row.line_type,
        granted=extra.get("granted"),
        until=dt.date.fromisoformat(until) if until else None,
        resolved=extra.get("resolved"),
    )


# Records that stand until a later record changes them: a cease, an opt-out or a
# dispute older than the look-back must still hold, so they are read at any age.
STANDING_KINDS = ("consent", "opt_out", "cease", "promise", "dispute")


def ledger_rows(conn: Connection, customer_ids: Sequence[str], since: dt.datetime) -> list[Any]:
    """Ledger rows of ``customer_ids`` at or after ``since``, and their standing records of
    any age (``STANDING_KINDS``), in ledger order."""
    rows: list[Any] = []
    recent_or_standing = sa.or_(EVENTS.c.at >= since, EVENTS.c.kind.in_(STANDING_KINDS))
    for start in range(0, len(customer_ids), CHUNK):
        chunk = list(customer_ids[start : start + CHUNK])
        rows.extend(
            conn.execute(
                sa.select(EVENTS).where(
                    one_of(EVENTS.c.customer_id, chunk, conn.dialect.name), recent_or_standing
                )
            )
        )
    rows.sort(key=lambda r: r.id)
    return rows


def folded_rows(rows: Iterable[Any]) -> list[tuple[Any, Event]]:
    """Each contact row with its event: attempts folded with their outcomes (latest wins).

    A pending attempt takes its worst case. Outcome rows are folded into
    their attempt, and money rows (payments, promise settlements) and the
    legs of transferred calls are left out: they are not contacts and the
    rules never read them.
    """
    rows = [row for row in rows if row.kind not in NOT_CONTACTS]
    latest: dict[int, Any] = {}
    for row in rows:
        if row.resolves_id is not None and row.outcome is not None:
            latest[int(row.resolves_id)] = row  # rows come in id order: the last one wins
    folded = []
    for row in rows:
        if row.resolves_id is not None:
            continue  # an outcome row: folded into its attempt
        resolution = latest.get(int(row.id))
        if resolution is not None:
            folded.append((row, _event(row, resolution.outcome, resolution)))
        elif row.kind == "attempt" and row.status == "pending":
            folded.append((row, _event(row, PENDING_WORST_OUTCOME[row.channel])))
        else:
            folded.append((row, _event(row, row.outcome)))
    return folded


def events_from_rows(rows: Iterable[Any]) -> list[Event]:
    """The contact events of ``rows`` (see ``folded_rows``)."""
    return [event for _, event in folded_rows(rows)]


def _point_event(
    cid: str,
    channel: str,
    value: str,
    line_type: str | None,
    kind: str,
    at: dt.datetime,
    granted: bool | None = None,
) -> Event:
    return Event(
        at=at,
        customer_id=cid,
        debt_ids=(),
        channel=channel,
        direction="inbound",
        kind=kind,
        contact_point=value,
        line_type=line_type,
        granted=granted,
    )


ConsentRows = dict[str, frozenset[tuple[Any, ...]]]


def consent_rows(
    conn: Connection, customer_ids: Sequence[str], channels: Collection[str] | None = None
) -> ConsentRows:
    """Each customer's contact points as plain tuples (kind, value, line type, consent, dates).

    Only the points that can carry one of ``channels`` (default: every point).
    Comparing two readings tells whether a customer's consent state moved.
    """
    kinds = None if channels is None else sorted({POINT_KIND[c] for c in channels})
    out: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for start in range(0, len(customer_ids), CHUNK):
        chunk = list(customer_ids[start : start + CHUNK])
        query = (
            sa.select(
                Customer.external_id,
                ContactPoint.kind,
                ContactPoint.value,
                ContactPoint.line_type,
                ContactPoint.consent,
                ContactPoint.consent_at,
                ContactPoint.opted_out_at,
            )
            .join(ContactPoint, ContactPoint.customer_id == Customer.id)
            .where(one_of(Customer.external_id, chunk, conn.dialect.name))
        )
        if kinds is not None:
            query = query.where(ContactPoint.kind.in_(kinds))
        for row in conn.execute(query):
            out[row[0]].add(tuple(row[1:]))
    return {cid: frozenset(points) for cid, points in out.items()}


def consent_events_from_rows(
    rows: ConsentRows, channels: Collection[str] | None = None
) -> dict[str, list[Event]]:
    """Consent and opt-out records implied by ``consent_rows``, on ``channels`` (default all).

    ``compliance.evaluate`` reads a proposal's consent and opt-out records on
    its own channel only, so the guard builds just those.
    """
    out: dict[str, list[Event]] = defaultdict(list)
    for cid, points in rows.items():
        for kind, value, line_type, consent, consent_at, opted_out_at in sorted(
            points, key=lambda p: (p[0], p[1])
        ):
            for channel in POINT_CHANNELS[kind]:
                if channels is not None and channel not in channels:
                    continue
                if consent in ("granted", "denied") and consent_at is not None:
                    out[cid].append(
                        _point_event(
                            cid, channel, value, line_type, "consent", consent_at,
                            consent == "granted",
                        )
                    )  # fmt: skip
                if opted_out_at is not None:
                    out[cid].append(
                        _point_event(cid, channel, value, line_type, "opt_out", opted_out_at)
                    )
    return out


def consent_events(conn: Connection, customer_ids: Sequence[str]) -> dict[str, list[Event]]:
    """Consent and opt-out records implied by the contact points' current state."""
    return consent_events_from_rows(consent_rows(conn, customer_ids))


@dataclass
class CustomerHistory:
    """A customer's events by time, and their attempts still in flight (channel, started)."""

    events: list[Event] = field(default_factory=list)
    in_flight: list[tuple[str, dt.datetime]] = field(default_factory=list)


def customer_histories(
    conn: Connection,
    customer_ids: Sequence[str],
    since: dt.datetime,
    consents: dict[str, list[Event]] | None = None,
) -> dict[str, CustomerHistory]:
    """Each customer's history since ``since`` (standing records of any age included), by time.

    ``consents``: ``consent_events`` for these customers, if already read.
    """
    histories: dict[str, CustomerHistory] = defaultdict(CustomerHistory)
    rows = ledger_rows(conn, customer_ids, since)
    resolved = {int(r.resolves_id) for r in rows if r.resolves_id is not None}
    for row in rows:
        if row.kind == "attempt" and row.status == "pending" and int(row.id) not in resolved:
            histories[row.customer_id].in_flight.append((row.channel, row.at))
    for event in events_from_rows(rows):
        histories[event.customer_id].events.append(event)
    if consents is None:
        consents = consent_events(conn, customer_ids)
    for cid in customer_ids:
        histories[cid].events.extend(consents.get(cid, ()))
    for history in histories.values():
        history.events.sort(key=lambda e: e.at)
    return histories
