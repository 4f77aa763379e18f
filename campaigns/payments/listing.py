"""Promises as a manager lists them: who, how much, paid so far, due, status, taken by."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.storage.models import Account, Customer, Promise


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
