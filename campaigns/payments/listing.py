"""Promises as a manager lists them, and when customers paid (for the value model)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.storage.models import Account, Customer, Payment, Promise


def promise_rows(
    engine: Engine, *, customer: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Promises (newest first), JSON-ready: amounts as decimal strings, dates ISO."""
    query = (
        sa.select(
            Promise.id,
            Customer.external_id.label("customer_id"),
            Account.external_id.label("account_id"),
            Promise.amount,
            Promise.currency,
            Promise.paid_amount,
            Promise.due_on,
            Promise.grace_days,
            Promise.status,
            Promise.created_at,
            Promise.settled_at,
            Promise.source,
            Promise.campaign,
        )
        .join(Customer, Customer.id == Promise.customer_id)
        .outerjoin(Account, Account.id == Promise.account_id)
        .order_by(Promise.created_at.desc(), Promise.id.desc())
    )
    if customer is not None:
        query = query.where(Customer.external_id == customer)
    if status is not None:
        query = query.where(Promise.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "id": r["id"],
            "customer_id": r["customer_id"],
            "account_id": r["account_id"],
            "amount": str(r["amount"]),
            "currency": r["currency"],
            "paid_amount": str(r["paid_amount"]),
            "due_on": r["due_on"].isoformat(),
            "grace_days": r["grace_days"],
            "status": r["status"],
            "created_at": r["created_at"].isoformat(),
            "settled_at": r["settled_at"].isoformat() if r["settled_at"] else None,
            "source": r["source"],
            "campaign": r["campaign"],
        }
        for r in rows
    ]


def payment_instants(
    conn: Connection, customers: Collection[str], since: dt.datetime
) -> dict[str, list[dt.datetime]]:
    """When each of ``customers`` paid, at or after ``since``, in time order."""
    rows = conn.execute(
        sa.select(Customer.external_id, Payment.paid_at)
        .join(Customer, Customer.id == Payment.customer_id)
        .where(Payment.paid_at >= since)
        .order_by(Payment.paid_at)
    )
    found: dict[str, list[dt.datetime]] = {}
    for customer, paid_at in rows:
        if customer in customers:
            found.setdefault(str(customer), []).append(paid_at)
    return found
