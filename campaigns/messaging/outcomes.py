"""The order of a message attempt's outcomes, shared by the jobs and the webhook receiver.

Compliance reads the newest outcome row of an attempt, so rows must never
move an attempt backwards: a job recording "sent" after the webhook already
said "delivered" (the provider can be faster than our bookkeeping) must not
write it.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.chain import EVENTS
from campaigns.storage.sql import one_of

# How far along an attempt is: a later event may not lower it.
RANK = {"sent": 1, "delivered": 2, "failed": 2, "bounced": 2, "replied": 3}


def latest_outcomes(conn: Connection, attempt_ids: Iterable[int]) -> dict[int, str]:
    """The newest outcome recorded for each attempt (attempts without one are absent)."""
    ids = list(set(attempt_ids))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 1000):
        rows = conn.execute(
            sa.select(EVENTS.c.resolves_id, EVENTS.c.outcome)
            .where(one_of(EVENTS.c.resolves_id, ids[start : start + 1000], conn.dialect.name))
            .order_by(EVENTS.c.id)
        )
        out.update({int(a): str(o) for a, o in rows})
    return out


def regresses(current: str | None, new: str) -> bool:
    """True when ``new`` would move an attempt backwards or merely repeat its state."""
    if current is None:
        return False
    return current == new or RANK[new] < RANK.get(current, 0)
