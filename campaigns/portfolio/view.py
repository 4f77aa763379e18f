"""The customer 360 view: every account, contact point, consent and promise of one debtor."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from campaigns.storage.models import Account, ContactPoint, Customer, Promise


class CustomerNotFound(LookupError):
    """No customer has that creditor id."""


def customer_360(engine: Engine, external_id: str) -> dict[str, Any]:
    """The whole relationship of customer ``external_id`` as JSON-ready data."""
    with Session(engine) as session:
        customer = session.scalars(
            sa.select(Customer)
            .where(Customer.external_id == external_id)
            .options(
                selectinload(Customer.accounts),
                selectinload(Customer.contact_points),
                selectinload(Customer.promises),
            )
        ).one_or_none()
        if customer is None:
            raise CustomerNotFound(f"customer {external_id!r} not found")
        accounts = sorted(customer.accounts, key=lambda a: a.external_id)
        return {
            "customer_id": customer.external_id,
            "name": customer.name,
            "country": customer.country,
            "subdivision": customer.subdivision,
            "timezones": customer.timezones.split(";") if customer.timezones else [],
            "language": customer.language,
            "behavior_score": customer.behavior_score,
            "segment": customer.segment,
            "total_due": _total_due(accounts),
            "accounts": [_account(a) for a in accounts],
            "contact_points": [
                _contact_point(p)
                for p in sorted(customer.contact_points, key=lambda p: (p.kind, p.position))
            ],
            "promises": [_promise(p) for p in sorted(customer.promises, key=lambda p: p.due_on)],
        }


def _total_due(accounts: list[Account]) -> dict[str, str]:
    """The open accounts' balance per currency, currencies in order."""
    open_accounts = [a for a in accounts if a.status == "open"]
    return {
        cur: str(sum(a.balance for a in open_accounts if a.currency == cur))
        for cur in sorted({a.currency for a in open_accounts})
    }


def _account(a: Account) -> dict[str, Any]:
    """One account, JSON-ready."""
    return {
        "account_id": a.external_id,
        "product": a.product,
        "balance": str(a.balance),
        "currency": a.currency,
        "days_past_due": a.days_past_due,
        "minimum_due": str(a.minimum_due),
        "status": a.status,
        "opened_on": a.opened_on.isoformat() if a.opened_on else None,
    }


def _contact_point(p: ContactPoint) -> dict[str, Any]:
    """One contact point with its consent and opt-out, JSON-ready."""
    return {
        "kind": p.kind,
        "value": p.value,
        "line_type": p.line_type,
        "consent": p.consent,
        "consent_at": p.consent_at.isoformat() if p.consent_at else None,
        "consent_source": p.consent_source,
        "opted_out_at": p.opted_out_at.isoformat() if p.opted_out_at else None,
        "wrong_number_at": p.wrong_number_at.isoformat() if p.wrong_number_at else None,
        "retired_at": p.retired_at.isoformat() if p.retired_at else None,
    }


def _promise(p: Promise) -> dict[str, Any]:
    """One promise to pay, JSON-ready."""
    return {
        "amount": str(p.amount),
        "currency": p.currency,
        "due_on": p.due_on.isoformat(),
        "status": p.status,
        "account_id": p.account_id,
        "source": p.source,
    }
