"""Inbound calls, per day, apart from the dialer's: answered, by the owner, abandoned.

A debtor who calls the company number is routed by the call desk
(``campaigns.calls.desk``): to their owner first when the owner is ready,
else to anyone in the inbound queue. Every call from a known customer is an
inbound ``attempt`` in the ledger with its outcome: ``conversation`` (with
the agent) or ``abandoned`` (the caller hung up waiting). These figures are
kept apart from the outbound abandoned-call rate, which the law measures on
calls *we* placed (Regulation F, Ofcom): an inbound caller who gives up
waiting is a service level to watch, not a dialer abandon.

The owner is the one ``campaigns.run.report.owners`` uses: the assigned
agent, else the agent of the customer's first conversation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.chain import EVENTS
from campaigns.run.report.owners import owners_of


@dataclass(frozen=True)
class InboundDay:
    """One local day's inbound calls from known customers."""

    day: str
    calls: int
    answered: int
    by_owner: int  # answered by the customer's owner
    abandoned: int  # the caller hung up before an agent answered

    @property
    def abandon_share(self) -> float | None:
        """Abandoned over calls with an outcome (None without calls)."""
        ended = self.answered + self.abandoned
        return self.abandoned / ended if ended else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, the abandon share included."""
        return {**asdict(self), "abandon_share": self.abandon_share}


def inbound_days(
    conn: Connection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    zone: str,
    customers: Collection[str] | None = None,
) -> list[InboundDay]:
    """Per local day in [start, end): inbound calls, answered, by the owner, abandoned.

    ``customers`` limits the calls to those customers' (a run's, say).
    """
    calls = conn.execute(
        sa.select(EVENTS.c.id, EVENTS.c.customer_id, EVENTS.c.at).where(
            EVENTS.c.kind == "attempt",
            EVENTS.c.direction == "inbound",
            EVENTS.c.resolves_id.is_(None),
            EVENTS.c.at >= start,
            EVENTS.c.at < end,
        )
    ).all()
    if customers is not None:
        wanted = set(customers)
        calls = [c for c in calls if str(c.customer_id) in wanted]
    ends = _outcomes(conn, [int(c.id) for c in calls])
    owners = owners_of(conn, sorted({str(c.customer_id) for c in calls}))
    local = ZoneInfo(zone)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for call in calls:
        day = tally[call.at.astimezone(local).date().isoformat()]
        day[0] += 1
        outcome, agent = ends.get(int(call.id), (None, None))
        if outcome == "conversation":
            day[1] += 1
            owner = owners.get(str(call.customer_id))
            day[2] += owner is not None and owner[0] == agent
        elif outcome == "abandoned":
            day[3] += 1
    return [InboundDay(d, *tally[d]) for d in sorted(tally)]


def _outcomes(conn: Connection, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """Each call's last recorded outcome and its agent (absent: still pending)."""
    found: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(EVENTS.c.resolves_id, EVENTS.c.outcome, EVENTS.c.agent)
            .where(EVENTS.c.resolves_id.in_(ids[start : start + 500]))
            .order_by(EVENTS.c.id)
        )
        for row in rows:
            if row.outcome is not None:
                found[int(row.resolves_id)] = (str(row.outcome), row.agent)
    return found
