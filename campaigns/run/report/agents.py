"""The collector's effectiveness, per agent and day, from the ledger and the payments.

A contact centre is judged on productivity and effectiveness: per agent and
(local) day, the talk time and conversations they had, the promises they
took and how many were kept, and the money attributed to them. Money goes
to the agent of the most recent conversation a payment is attributed to
(the ledger ``payment`` row lists its attributed attempts), on that
conversation's day; promises kept are counted on the day they were taken.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.chain import EVENTS
from campaigns.storage.models import Promise

# Payments made up to this long after a conversation can still be attributed to it.
MONEY_LOOKAHEAD = dt.timedelta(days=60)


@dataclass
class AgentDay:
    """One agent's figures on one day."""

    agent: str
    day: str
    talk_seconds: float = 0.0
    conversations: int = 0
    promises: int = 0
    promises_kept: int = 0
    collected: dict[str, Decimal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, talk time in minutes and money per currency as numbers."""
        return {
            "agent": self.agent,
            "day": self.day,
            "talk_minutes": round(self.talk_seconds / 60, 1),
            "conversations": self.conversations,
            "promises": self.promises,
            "promises_kept": self.promises_kept,
            "collected": {c: float(a) for c, a in sorted(self.collected.items())},
        }


def _conversations(
    conn: Connection, since: dt.datetime, until: dt.datetime, campaign: str | None
) -> list[Any]:
    # Settled attempts: an outcome row (pointing at its attempt), or an imported
    # attempt that carries its outcome itself.
    attempt = sa.func.coalesce(EVENTS.c.resolves_id, EVENTS.c.id).label("attempt")
    query = sa.select(
        attempt, EVENTS.c.agent, EVENTS.c.at, EVENTS.c.duration_s, EVENTS.c.outcome
    ).where(
        EVENTS.c.kind == "attempt",
        EVENTS.c.outcome.is_not(None),
        EVENTS.c.agent.is_not(None),
        EVENTS.c.at >= since,
        EVENTS.c.at < until,
    )
    if campaign is not None:
        query = query.where(EVENTS.c.campaign == campaign)
    return list(conn.execute(query))


def _promises(
    conn: Connection, since: dt.datetime, until: dt.datetime, campaign: str | None
) -> list[Any]:
    # Promises imported from other systems were taken by nobody here.
    query = sa.select(Promise.source, Promise.created_at, Promise.status).where(
        Promise.created_at >= since, Promise.created_at < until, Promise.source != "import"
    )
    if campaign is not None:
        query = query.where(Promise.campaign == campaign)
    return list(conn.execute(query))


def _payments(conn: Connection, since: dt.datetime, until: dt.datetime) -> list[Any]:
    return list(
        conn.execute(
            sa.select(EVENTS.c.extra).where(
                EVENTS.c.kind == "payment", EVENTS.c.at >= since, EVENTS.c.at < until
            )
        )
    )


def agent_days(
    conn: Connection,
    since: dt.datetime,
    until: dt.datetime,
    *,
    zone: str = "UTC",
    campaign: str | None = None,
) -> list[dict[str, Any]]:
    """Per agent and local day in ``[since, until)``: talk, conversations, promises, money."""
    local = ZoneInfo(zone)
    rows: dict[tuple[str, str], AgentDay] = {}

    def day_of(agent: str, at: dt.datetime) -> AgentDay:
        key = (agent, at.astimezone(local).date().isoformat())
        return rows.setdefault(key, AgentDay(*key))

    handled: dict[int, tuple[str, dt.datetime]] = {}
    for r in _conversations(conn, since, until, campaign):
        entry = day_of(r.agent, r.at)
        entry.talk_seconds += float(r.duration_s or 0)
        if r.outcome == "conversation":
            entry.conversations += 1
            handled[int(r.attempt)] = (r.agent, r.at)
    for source, taken, status in _promises(conn, since, until, campaign):
        entry = day_of(source, taken)
        entry.promises += 1
        entry.promises_kept += status == "kept"
    for (extra,) in _payments(conn, since, until + MONEY_LOOKAHEAD):
        doc = json.loads(extra)
        credited = [handled[a] for a in doc.get("attributed_attempts", []) if a in handled]
        if credited:
            agent, at = max(credited, key=lambda c: c[1])
            money = day_of(agent, at).collected
            currency = str(doc["currency"])
            money[currency] = money.get(currency, Decimal(0)) + Decimal(doc["amount"])
    return [rows[k].as_dict() for k in sorted(rows)]
