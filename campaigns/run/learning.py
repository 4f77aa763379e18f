"""Whom the value model learns from: today's customers and the payers who left.

A debtor who keeps a promise pays, cures and leaves the campaign's slice.
Learning from today's slice alone would count the conversations and promises
of those who did not pay and forget those who did, so promise, kept-promise
and pay-per-contact rates would be learned from the non-payers and fall day
after day (``bench.month`` measured it: of the promises settled, about half
of the amount was paid, and the model read under a quarter). The sample
therefore adds every customer who paid within the learning window, is no
longer in the slice, and was contacted for this campaign in that window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.ledger.history import customer_histories
from campaigns.storage.models import Customer, Payment
from compliance import Event


@dataclass(frozen=True)
class Departed:
    """Customers who paid and left the campaign's slice inside the learning window."""

    segment: dict[str, str] = field(default_factory=dict)  # by customer id
    zone: dict[str, str] = field(default_factory=dict)  # first time zone, by customer id
    events: list[Event] = field(default_factory=list)  # their ledger events in the window

    @property
    def ids(self) -> set[str]:
        """The departed customers' ids."""
        return set(self.segment)


def departed_payers(
    conn: Connection,
    campaign: str,
    present: Collection[str],
    since: dt.datetime,
    before: dt.datetime,
) -> Departed:
    """Payers since ``since`` not in ``present`` whom ``campaign`` contacted before ``before``.

    Payers are few next to the portfolio, so this reads the payments table
    and then only those customers' ledger rows (by the ledger's customer
    index), never a scan of the campaign's history.
    """
    rows = conn.execute(
        sa.select(Customer.external_id, Customer.segment, Customer.timezones)
        .join(Payment, Payment.customer_id == Customer.id)
        .where(Payment.paid_at >= since, Payment.paid_at < before)
        .distinct()
    ).all()
    candidates = {
        str(cid): (segment or "unknown", zones.split(";")[0])
        for cid, segment, zones in rows
        if str(cid) not in present
    }
    if not candidates:
        return Departed()
    found = customer_histories(conn, sorted(candidates), since, consents={})
    departed = Departed()
    for cid, history in found.items():
        events = [e for e in history.events if e.at < before]
        if not any(e.kind == "attempt" and e.campaign == campaign for e in events):
            continue
        departed.segment[cid], departed.zone[cid] = candidates[cid]
        departed.events.extend(events)
    return departed
