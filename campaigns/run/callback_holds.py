"""A callback the debtor asked for is their contact that day: the plan leaves them out.

An agent who sets a callback at the desktop ("call me tomorrow at 9:30")
promised the debtor that call, and the campaign's dial session makes it at
its time (``campaigns.dialing.callbacks``). If the day's plan also gave the
customer an attempt, the planned call or message would come first and spend
the day's contact (Ley 2300 allows one a day in Colombia; the house rule
three): the callback the debtor asked for would then be refused at its time.
So the planner reads the day's scheduled callbacks before it plans, and a
customer with one gets no planned attempt, with the reason in the plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.storage.accounts import Callback
from campaigns.storage.models import CallbackDial

# A callback whose dial is over (done, refused, missed) no longer holds the day.
CALLBACK_OVER = ("done", "refused", "missed")


def callbacks_in_day(
    conn: Connection,
    ids: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    zone: str,
) -> dict[str, str]:
    """Customers of ``ids`` with a callback scheduled in ``[start, end)``: the left-out reason.

    ``zone`` is the campaign's time zone, in which the reason states the time.
    """
    if not ids:
        return {}
    callbacks = Callback.__table__
    dials = CallbackDial.__table__
    rows = conn.execute(
        sa.select(callbacks.c.customer_id, callbacks.c.at, callbacks.c.agent)
        .outerjoin(dials, dials.c.callback_id == callbacks.c.id)
        .where(
            callbacks.c.status == "scheduled",
            callbacks.c.at >= start,
            callbacks.c.at < end,
            sa.or_(dials.c.status.is_(None), dials.c.status.not_in(CALLBACK_OVER)),
        )
        .order_by(callbacks.c.at)
    ).all()
    wanted = set(ids)
    local = ZoneInfo(zone)
    reasons: dict[str, str] = {}
    for customer, at, agent in rows:
        if customer in wanted and customer not in reasons:
            shown = at.astimezone(local).strftime("%H:%M")
            reasons[customer] = (
                f"callback: the customer asked {agent} to call back at {shown} ({zone}); "
                "that call is the day's contact"
            )
    return reasons
