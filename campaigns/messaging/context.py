"""The customer 360 context a message needs, loaded in bulk for a whole batch.

Three queries per batch (customers, open accounts, contact points) instead of
three per message: a batch of hundreds must not cost hundreds of round trips.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.messaging.plan import Channel
from campaigns.reach import POINT_KIND, pick_point
from campaigns.storage.models import Account, ContactPoint, Customer
from campaigns.storage.sql import one_of
from channels import AccountView, CustomerView

# The rule packs that apply to a debtor, by where they live; the house rules
# always apply. A country missing here has no pack, and the guard fails closed.
PACKS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "US": ("us-regf", "house"),
    "CO": ("co-ley2300", "house"),
    "MX": ("mx-condusef", "house"),
    "CL": ("cl-ley21320", "house"),
    "PE": ("pe-ley29571", "house"),
    "EC": ("ec-lodc", "house"),
    "GB": ("uk-ofcom", "house"),
}
# Massachusetts adds its own stricter limits on top of Regulation F.
PACKS_BY_SUBDIVISION: dict[str, tuple[str, ...]] = {"US-MA": ("us-regf", "us-ma", "house")}
CHUNK = 1000


@dataclass(frozen=True)
class Point:
    """A contact point usable for the channel, with what the guard needs to know."""

    value: str
    line_type: str


@dataclass(frozen=True)
class Target:
    """Everything about one debtor that rendering and the guard need."""

    customer_id: str
    view: CustomerView
    language: str
    country: str
    subdivision: str | None
    timezones: tuple[str, ...]
    debt_ids: tuple[str, ...]
    point: Point | None
    unusable: str | None  # why no point is usable, when point is None


def packs_for(country: str, subdivision: str | None) -> tuple[str, ...] | None:
    """Pack names for a debtor's location, or None when no pack covers it."""
    if subdivision and subdivision in PACKS_BY_SUBDIVISION:
        return PACKS_BY_SUBDIVISION[subdivision]
    return PACKS_BY_COUNTRY.get(country)


def _mask(account_id: str) -> str:
    return "****" + account_id[-4:]


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last


def _pick_point(points: list[ContactPointRow], channel: Channel) -> tuple[Point | None, str | None]:
    kind = POINT_KIND[channel]
    mine = [p for p in points if p.kind == kind]
    if not mine:
        return None, f"no {kind} contact point"
    chosen, reasons = pick_point(channel, mine)
    if chosen is None:
        return None, "; ".join(reasons)
    return Point(chosen.value, chosen.line_type or "unknown"), None


@dataclass(frozen=True)
class ContactPointRow:
    """The columns of a contact point this module reads."""

    customer_id: int
    kind: str
    value: str
    line_type: str | None
    position: int
    consent: str | None
    opted_out_at: dt.datetime | None
    wrong_number_at: dt.datetime | None
    retired_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class _Holdings:
    """Each customer's open accounts and contact points on the channel, by customer row id."""

    accounts: defaultdict[int, list[sa.Row]]
    points: defaultdict[int, list[ContactPointRow]]


def load_targets(
    conn: Connection, customer_ids: Sequence[str], channel: Channel
) -> dict[str, Target]:
    """Targets of ``customer_ids`` (creditor ids) for ``channel``; unknown ids are absent."""
    customers = _customers(conn, list(dict.fromkeys(customer_ids)))
    holdings = _holdings(conn, list(customers), channel)
    return {
        c.external_id: _target(c, holdings.accounts[cid], holdings.points[cid], channel)
        for cid, c in customers.items()
    }


def _customers(conn: Connection, external_ids: list[str]) -> dict[int, sa.Row]:
    """The customer rows of ``external_ids`` by row id, in chunks of ``CHUNK``."""
    dialect = conn.dialect.name
    customers: dict[int, sa.Row] = {}
    for start in range(0, len(external_ids), CHUNK):
        chunk = external_ids[start : start + CHUNK]
        for c in conn.execute(
            sa.select(
                Customer.id,
                Customer.external_id,
                Customer.name,
                Customer.country,
                Customer.subdivision,
                Customer.timezones,
                Customer.language,
            ).where(one_of(Customer.external_id, chunk, dialect))
        ):
            customers[int(c.id)] = c
    return customers


def _holdings(conn: Connection, ids: list[int], channel: Channel) -> _Holdings:
    """Open accounts and the channel's contact points of customer rows ``ids``, chunk by chunk."""
    holdings = _Holdings(defaultdict(list), defaultdict(list))
    for start in range(0, len(ids), CHUNK):
        keys = ids[start : start + CHUNK]
        for a in _open_accounts(conn, keys):
            holdings.accounts[int(a.customer_id)].append(a)
        for p in _channel_points(conn, keys, channel):
            holdings.points[int(p.customer_id)].append(p)
    return holdings


def _open_accounts(conn: Connection, keys: list[int]) -> sa.Result[Any]:
    """The open accounts of customer rows ``keys``, with the columns a message shows."""
    return conn.execute(
        sa.select(
            Account.customer_id,
            Account.external_id,
            Account.product,
            Account.balance,
            Account.currency,
            Account.minimum_due,
            Account.days_past_due,
        ).where(one_of(Account.customer_id, keys, conn.dialect.name), Account.status == "open")
    )


def _channel_points(conn: Connection, keys: list[int], channel: Channel) -> list[ContactPointRow]:
    """The contact points of customer rows ``keys`` of the kind ``channel`` uses."""
    rows = conn.execute(
        sa.select(
            ContactPoint.customer_id,
            ContactPoint.kind,
            ContactPoint.value,
            ContactPoint.line_type,
            ContactPoint.position,
            ContactPoint.consent,
            ContactPoint.opted_out_at,
            ContactPoint.wrong_number_at,
            ContactPoint.retired_at,
        ).where(
            one_of(ContactPoint.customer_id, keys, conn.dialect.name),
            ContactPoint.kind == POINT_KIND[channel],
        )
    )
    return [ContactPointRow(*p) for p in rows]


def _target(
    c: sa.Row, accounts: list[sa.Row], points: list[ContactPointRow], channel: Channel
) -> Target:
    """One debtor's target: the view templates render, and what the guard checks."""
    own = sorted(accounts, key=lambda a: a.external_id)
    point, unusable = _pick_point(points, channel)
    return Target(
        customer_id=c.external_id,
        view=_customer_view(c, own),
        language=c.language,
        country=c.country,
        subdivision=c.subdivision,
        timezones=tuple(z for z in (c.timezones or "").split(";") if z),
        debt_ids=tuple(a.external_id for a in own),
        point=point,
        unusable=unusable,
    )


def _customer_view(c: sa.Row, own: list[sa.Row]) -> CustomerView:
    """What templates may show of a debtor: names and masked open accounts."""
    first, last = _split_name(c.name)
    return CustomerView(
        customer_id=c.external_id,
        first_name=first,
        last_name=last,
        accounts=tuple(
            AccountView(
                account_ref=_mask(a.external_id),
                product=a.product,
                balance=Decimal(a.balance),
                currency=a.currency,
                minimum_due=Decimal(a.minimum_due),
                days_past_due=int(a.days_past_due),
            )
            for a in own
        ),
    )
