"""What a link's campaign says about its portal and offers, and what a customer owes.

The campaign file is read from the campaign's newest run (as
``campaigns.payments.taken`` reads ``[collections]``): the portal serves the
configuration the day's plan was made with. A campaign with no run yet gets
the defaults and no offers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign, Offers, Portal
from campaigns.portal.offers import Debt
from campaigns.run.stored import campaign_of
from campaigns.storage.models import Account, ContactPoint, Customer, Run


@dataclass(frozen=True)
class Terms:
    """A campaign's portal and offer settings; ``campaign`` None when it has no run yet."""

    name: str
    portal: Portal
    offers: Offers
    campaign: Campaign | None
    run_id: int | None

    @property
    def currency(self) -> str | None:
        """The currency the campaign's offers are in."""
        return self.campaign.currency if self.campaign else None


def terms_of(conn: Connection, campaign: str) -> Terms:
    """The terms of ``campaign``, from its newest run."""
    row = conn.execute(
        sa.select(Run.id, Run.campaign_toml)
        .where(Run.campaign == campaign)
        .order_by(Run.day.desc(), Run.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return Terms(campaign, Portal(), Offers(), None, None)
    parsed = _parsed(row.campaign_toml)
    return Terms(campaign, parsed.portal, parsed.offers, parsed, int(row.id))


@lru_cache(maxsize=32)
def _parsed(toml: str) -> Campaign:
    return campaign_of(Run(campaign_toml=toml))


@dataclass(frozen=True)
class Holder:
    """The customer behind a link, as the portal needs them."""

    pk: int
    customer_id: str
    country: str
    language: str
    zones: tuple[str, ...]
    segment: str | None = None  # the portfolio's segment: which [offers.segments] apply

    def today(self, now: dt.datetime) -> dt.date:
        """The customer's date at ``now`` (their first zone; UTC without one)."""
        return now.astimezone(ZoneInfo(self.zones[0] if self.zones else "UTC")).date()


def holder(conn: Connection, customer_id: str) -> Holder | None:
    """The customer ``customer_id``, None if the portfolio no longer has them."""
    row = conn.execute(
        sa.select(
            Customer.id, Customer.country, Customer.language, Customer.timezones, Customer.segment
        ).where(Customer.external_id == customer_id)
    ).first()
    if row is None:
        return None
    zones = tuple(z for z in (row.timezones or "").split(";") if z)
    return Holder(int(row.id), customer_id, row.country, row.language, zones, row.segment)


def open_debts(conn: Connection, customer_pk: int) -> list[Debt]:
    """Every open debt of the customer, whatever campaign holds it."""
    rows = conn.execute(
        sa.select(Account.external_id, Account.balance, Account.currency, Account.days_past_due)
        .where(Account.customer_id == customer_pk, Account.status == "open")
        .order_by(Account.external_id)
    )
    return [Debt(r.external_id, Decimal(r.balance), r.currency, int(r.days_past_due)) for r in rows]


def phones(conn: Connection, customer_pk: int) -> list[str]:
    """The customer's phone numbers on file (retired ones excluded)."""
    return [
        str(v)
        for v in conn.execute(
            sa.select(ContactPoint.value).where(
                ContactPoint.customer_id == customer_pk,
                ContactPoint.kind == "phone",
                ContactPoint.retired_at.is_(None),
            )
        ).scalars()
    ]


def opened_dates(conn: Connection, customer_pk: int) -> set[dt.date]:
    """The dates the customer's open accounts were opened (where the file gave one)."""
    return {
        d
        for d in conn.execute(
            sa.select(Account.opened_on).where(
                Account.customer_id == customer_pk, Account.status == "open"
            )
        ).scalars()
        if d is not None
    }
