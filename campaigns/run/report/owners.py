"""One agent per customer, measured: the share of repeat conversations with the same agent.

A customer's *repeat* conversation is any voice conversation after their
first one (in the whole ledger, not only the period). It is handled by the
*same agent* when its agent is the customer's owner: the agent assigned in
``customer_owners`` (a campaign rule, a supervisor), else the agent of the
customer's first conversation, which is who ``campaigns.agents.owners``
makes the owner. Per local day of the conversation: repeats, how many the
owner handled, and the share (None on a day without repeats).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.chain import EVENTS
from campaigns.storage.models import CustomerOwner


@dataclass(frozen=True)
class OwnerDay:
    """One day's repeat conversations and how many of them the customer's owner had."""

    day: str
    repeat_conversations: int
    same_agent: int

    @property
    def share(self) -> float | None:
        """Same-agent repeats over repeats (None without repeats)."""
        if not self.repeat_conversations:
            return None
        return self.same_agent / self.repeat_conversations

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, the share included."""
        return {**asdict(self), "share": self.share}


def owner_days(
    conn: Connection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    zone: str,
    campaign: str | None = None,
) -> list[OwnerDay]:
    """Per local day in [start, end): repeat conversations and those with the owner.

    ``campaign`` limits the conversations counted to that campaign's; a
    customer's first conversation and owner are theirs whatever the campaign.
    """
    query = sa.select(EVENTS.c.id, EVENTS.c.customer_id, EVENTS.c.agent, EVENTS.c.at).where(
        EVENTS.c.channel == "voice",
        EVENTS.c.outcome == "conversation",
        EVENTS.c.agent.is_not(None),
        EVENTS.c.at >= start,
        EVENTS.c.at < end,
    )
    if campaign is not None:
        query = query.where(EVENTS.c.campaign == campaign)
    rows = conn.execute(query.order_by(EVENTS.c.id)).all()
    owners = owners_of(conn, sorted({str(r.customer_id) for r in rows}))
    local = ZoneInfo(zone)
    repeats: dict[str, int] = defaultdict(int)
    same: dict[str, int] = defaultdict(int)
    for r in rows:
        first = owners.get(str(r.customer_id))
        if first is None or first[1] == r.id:
            continue  # the customer's first conversation is not a repeat
        day = r.at.astimezone(local).date().isoformat()
        repeats[day] += 1
        same[day] += r.agent == first[0]
    return [OwnerDay(d, repeats[d], same[d]) for d in sorted(repeats)]


def owners_of(conn: Connection, customers: list[str]) -> dict[str, tuple[str, int]]:
    """Per customer: (owner, ledger id of their first conversation).

    The owner is the assigned one, else the agent of the first conversation.
    """
    out: dict[str, tuple[str, int]] = {}
    for start in range(0, len(customers), 500):
        chunk = customers[start : start + 500]
        first_id = (
            sa.select(EVENTS.c.customer_id, sa.func.min(EVENTS.c.id).label("id"))
            .where(
                EVENTS.c.customer_id.in_(chunk),
                EVENTS.c.channel == "voice",
                EVENTS.c.outcome == "conversation",
                EVENTS.c.agent.is_not(None),
            )
            .group_by(EVENTS.c.customer_id)
            .subquery()
        )
        firsts = conn.execute(
            sa.select(EVENTS.c.id, EVENTS.c.customer_id, EVENTS.c.agent).join(
                first_id, first_id.c.id == EVENTS.c.id
            )
        ).all()
        assigned = dict(
            conn.execute(
                sa.select(CustomerOwner.customer_id, CustomerOwner.agent).where(
                    CustomerOwner.customer_id.in_(chunk), CustomerOwner.source == "assigned"
                )
            ).all()
        )
        for f in firsts:
            cid = str(f.customer_id)
            out[cid] = (str(assigned.get(cid, f.agent)), int(f.id))
    return out
