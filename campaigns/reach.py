"""Which channels can reach a debtor: one rule for the planner, the workers and the dialer.

A contact point is usable for a channel unless the debtor opted out of it, it
is known to be wrong, or the bank's full file no longer lists it (retired);
SMS and WhatsApp also need a line that is not a landline. The workers and
the dialer pick the first usable point at send time (consented points first,
see ``preference``); the planner leaves out every channel with no usable
point, so the day's plan never spends a debtor's daily attempt cap, a channel
budget or an agent's minute on a contact no worker could make.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.storage.models import ContactPoint, Customer
from campaigns.storage.sql import one_of

POINT_KIND = {"voice": "phone", "sms": "phone", "whatsapp": "phone", "email": "email"}
# The other way round: the channels a point of each kind can carry.
POINT_CHANNELS = {
    kind: tuple(c for c, k in POINT_KIND.items() if k == kind) for kind in ("phone", "email")
}
TEXT_CHANNELS = frozenset({"sms", "whatsapp"})
CHUNK = 5000
P = TypeVar("P", bound="CandidatePoint")


# Among a debtor's usable points, one with recorded consent is tried first and
# one whose consent was denied last, each group in the bank's order: consent is
# what the law may require (TCPA for autodialed texts and calls to mobiles,
# Colombia's Ley 2300 for every channel), and the guard would refuse a contact
# on the bank's first number while a second, consented one sits unused.
CONSENT_ORDER = {"granted": 0, "unknown": 1, "denied": 2}


def preference(consent: str | None, position: int) -> tuple[int, int]:
    """Sort key for a channel's candidate points: consented first, then the bank's order."""
    return CONSENT_ORDER.get(consent or "unknown", 1), position


def point_refusal(
    channel: str,
    value: str,
    line_type: str | None,
    opted_out_at: dt.datetime | None,
    wrong_number_at: dt.datetime | None,
    retired_at: dt.datetime | None,
) -> str | None:
    """Why the point ``value`` cannot carry ``channel`` (of its own kind), or None if it can."""
    if retired_at is not None:
        return f"{value} retired {retired_at.isoformat()} (no longer in the bank's file)"
    if opted_out_at is not None:
        return f"{value} opted out {opted_out_at.isoformat()}"
    if wrong_number_at is not None:
        return f"{value} unreachable since {wrong_number_at.isoformat()}"
    if channel in TEXT_CHANNELS and line_type == "landline":
        return f"{value} is a landline"
    return None


class CandidatePoint(Protocol):
    """The columns of a contact point that picking one reads."""

    @property
    def value(self) -> str: ...
    @property
    def line_type(self) -> str | None: ...
    @property
    def consent(self) -> str | None: ...
    @property
    def position(self) -> int: ...
    @property
    def opted_out_at(self) -> dt.datetime | None: ...
    @property
    def wrong_number_at(self) -> dt.datetime | None: ...
    @property
    def retired_at(self) -> dt.datetime | None: ...


def pick_point(channel: str, points: Iterable[P]) -> tuple[P | None, list[str]]:
    """The point of ``points`` (all of the channel's kind) to use, and why the ones tried fail.

    Points are tried in ``preference`` order; ``(None, reasons)`` when none can be used.
    """
    reasons: list[str] = []
    for p in sorted(points, key=lambda p: preference(p.consent, p.position)):
        why = point_refusal(
            channel, p.value, p.line_type, p.opted_out_at, p.wrong_number_at, p.retired_at
        )
        if why is None:
            return p, reasons
        reasons.append(why)
    return None, reasons


def usable_channels(
    conn: Connection, customer_ids: Sequence[str], channels: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Per customer (creditor id): which of ``channels`` a usable point exists for.

    A customer with no usable point at all maps to an empty set; unknown ids too.
    """
    wanted = tuple(channels)
    # A point's verdict depends on its kind, line type and whether it carries an
    # opt-out, a wrong-number or a retired mark, not on its value: judged once per
    # combination (a million debtors hold millions of points), with sets shared.
    verdicts: dict[tuple[str, str | None, bool, bool, bool], frozenset[str]] = {}
    shared: dict[frozenset[str], frozenset[str]] = {}
    found: dict[str, frozenset[str]] = {}
    dialect = conn.dialect.name
    kinds = sorted({POINT_KIND[c] for c in wanted})
    for start in range(0, len(customer_ids), CHUNK):
        chunk = list(customer_ids[start : start + CHUNK])
        rows = conn.execute(
            sa.select(
                Customer.external_id,
                ContactPoint.kind,
                ContactPoint.value,
                ContactPoint.line_type,
                ContactPoint.opted_out_at,
                ContactPoint.wrong_number_at,
                ContactPoint.retired_at,
            )
            .join(ContactPoint, ContactPoint.customer_id == Customer.id)
            .where(one_of(Customer.external_id, chunk, dialect), ContactPoint.kind.in_(kinds))
        )
        for cid, kind, value, line_type, opted_out_at, wrong_number_at, retired_at in rows:
            marks = (opted_out_at, wrong_number_at, retired_at)
            key = (
                kind,
                line_type,
                opted_out_at is not None,
                wrong_number_at is not None,
                retired_at is not None,
            )
            if key not in verdicts:
                verdicts[key] = frozenset(
                    c
                    for c in wanted
                    if POINT_KIND[c] == kind and point_refusal(c, value, line_type, *marks) is None
                )
            union = found.get(cid, frozenset()) | verdicts[key]
            found[cid] = shared.setdefault(union, union)
    return {cid: found.get(cid, frozenset()) for cid in customer_ids}
