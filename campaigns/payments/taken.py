"""A promise to pay becomes a tracked promise: one ``promises`` row per promise taken.

Promises come from the agent desktop (``campaigns.agents.disposition``) and
from other systems through the ledger interchange; both are tracked alike,
with their campaign's grace period, and settled by ``campaigns.payments.promises``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign, Collections
from campaigns.run.stored import campaign_of
from campaigns.storage.models import Account, Customer, Promise, Run
from compliance import Event


class PromiseRejected(ValueError):
    """A promise that cannot be tracked (unknown customer or debt, wrong currency)."""


def collections_of(conn: Connection, campaign: str | None) -> Collections:
    """The campaign's ``[collections]`` settings, from its newest run; defaults otherwise."""
    if campaign is None:
        return Collections()
    toml = conn.execute(
        sa.select(Run.campaign_toml)
        .where(Run.campaign == campaign)
        .order_by(Run.day.desc())
        .limit(1)
    ).scalar()
    return Collections() if toml is None else _parsed(toml).collections


@lru_cache(maxsize=32)
def _parsed(toml: str) -> Campaign:
    return campaign_of(Run(campaign_toml=toml))


def insert_promise(
    conn: Connection,
    *,
    customer_pk: int,
    account_pk: int | None,
    amount: Decimal,
    currency: str,
    due_on: dt.date,
    created_at: dt.datetime,
    source: str,
    campaign: str | None,
    ledger_event_id: int | None,
) -> int:
    """The ``promises`` row, pending, with its campaign's grace period; returns its id."""
    grace = collections_of(conn, campaign).promise_grace_days
    return int(
        conn.execute(
            sa.insert(Promise).values(
                customer_id=customer_pk,
                account_id=account_pk,
                amount=amount,
                currency=currency,
                due_on=due_on,
                status="pending",
                created_at=created_at,
                source=source,
                campaign=campaign,
                grace_days=grace,
                paid_amount=Decimal(0),
                ledger_event_id=ledger_event_id,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )


def track_promise(
    conn: Connection, event: Event, amount: Decimal, currency: str, ledger_id: int, *, source: str
) -> int:
    """Track an imported ``promise`` event; raises ``PromiseRejected`` naming what is wrong."""
    customer_pk = conn.execute(
        sa.select(Customer.id).where(Customer.external_id == event.customer_id)
    ).scalar()
    if customer_pk is None:
        raise PromiseRejected(f"customer {event.customer_id!r} is not in the portfolio")
    accounts = dict(
        conn.execute(
            sa.select(Account.external_id, Account.id).where(Account.customer_id == customer_pk)
        ).all()
    )
    account_pk = None
    if len(event.debt_ids) == 1:
        account_pk = accounts.get(event.debt_ids[0])
        if account_pk is None:
            raise PromiseRejected(f"debt {event.debt_ids[0]!r} is not {event.customer_id}'s")
    assert event.until is not None
    return insert_promise(
        conn,
        customer_pk=int(customer_pk),
        account_pk=account_pk,
        amount=amount,
        currency=currency,
        due_on=event.until,
        created_at=event.at,
        source=source,
        campaign=event.campaign,
        ledger_event_id=ledger_id,
    )
