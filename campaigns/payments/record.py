"""Recording payments: all or nothing, once per reference, into the accounts and the ledger.

``record_payments`` checks every payment against the account it names
(exists, same currency; a reference already recorded must be the same
payment), and only when all of them pass does it, in one transaction:
store each new payment, lower its account's balance and amount due, write
a ledger ``payment`` row (with the contacts it is attributed to), and
settle the customers' pending promises. A reference seen before is counted
as a duplicate and changes nothing, so a file imported twice, or a payment
posted twice, counts once.

Days past due (a documented rule, docs/payments-format.md): a payment lowers
``minimum_due`` (the amount overdue) and ``balance``; when the amount overdue
reaches zero the account is current again (``days_past_due`` 0), and when the
balance reaches zero the account is closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.errors import InputRejected
from campaigns.ledger.chain import EVENTS, LedgerEntry, append
from campaigns.payments.file import PaymentRecord
from campaigns.payments.promises import SettleSummary, settle_promises
from campaigns.payments.taken import collections_of
from campaigns.storage.models import Account, Customer, Payment

# Attempts looked at for attribution: never more than the longest window allowed.
ATTRIBUTION_LOOKBACK = dt.timedelta(days=60)
CONTACT_OUTCOMES = ("conversation", "delivered", "replied", "sent")


class PaymentsRejected(InputRejected):
    """Some payments cannot be recorded; ``errors`` name each (nothing was recorded)."""


@dataclass(frozen=True)
class _Target:
    """The account a payment lands on, as it stands before the payment."""

    account_id: int
    customer_id: int
    customer_external: str
    currency: str
    zones: tuple[str, ...]


@dataclass
class PaymentsSummary:
    """What one import or API call recorded."""

    received: int = 0
    recorded: int = 0
    duplicates: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)
    promises: SettleSummary = field(default_factory=SettleSummary)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts as decimal strings, per currency)."""
        return {
            "received": self.received,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "amounts": {c: str(a) for c, a in sorted(self.amounts.items())},
            "promises": self.promises.as_dict(),
        }


def _targets(conn: Connection, records: Sequence[PaymentRecord]) -> dict[str, _Target]:
    ids = sorted({r.account_id for r in records})
    rows = conn.execute(
        sa.select(
            Account.external_id,
            Account.id,
            Account.customer_id,
            Account.currency,
            Customer.external_id.label("customer"),
            Customer.timezones,
        )
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.external_id.in_(ids))
    )
    return {
        r.external_id: _Target(
            r.id, r.customer_id, r.customer, r.currency, tuple(r.timezones.split(";"))
        )
        for r in rows
    }


def paid_instant(record: PaymentRecord, zones: tuple[str, ...]) -> dt.datetime:
    """The payment's instant; a date alone is noon of that day in the holder's first zone."""
    if record.paid_at is not None:
        return record.paid_at.astimezone(dt.UTC)
    assert record.paid_on is not None
    noon = dt.datetime.combine(record.paid_on, dt.time(12), tzinfo=ZoneInfo(zones[0]))
    return noon.astimezone(dt.UTC)


def _check(
    conn: Connection, records: Sequence[PaymentRecord], name: str, now: dt.datetime
) -> tuple[dict[str, _Target], set[str]]:
    """The targets, and the references already recorded; raises naming every problem."""
    targets = _targets(conn, records)
    known = {
        r.reference: (r.account, Decimal(r.amount))
        for r in conn.execute(
            sa.select(Payment.reference, Account.external_id.label("account"), Payment.amount)
            .join(Account, Account.id == Payment.account_id)
            .where(Payment.reference.in_([r.reference for r in records]))
        )
    }
    errors = []
    for r in records:
        target = targets.get(r.account_id)
        if target is None:
            errors.append(f"{name}:{r.line}: account_id: no account {r.account_id!r}")
            continue
        if r.currency != target.currency:
            errors.append(
                f"{name}:{r.line}: currency: {r.currency} but account {r.account_id} "
                f"is in {target.currency}"
            )
        if paid_instant(r, target.zones) > now + dt.timedelta(minutes=5):
            errors.append(f"{name}:{r.line}: paid_at: in the future")
        if r.reference in known and known[r.reference] != (r.account_id, r.amount):
            account, amount = known[r.reference]
            errors.append(
                f"{name}:{r.line}: reference: {r.reference!r} was already recorded for "
                f"{amount} on account {account}, not {r.amount} on {r.account_id}"
            )
    if errors:
        raise PaymentsRejected(errors)
    return targets, set(known)


def _attribution_days(conn: Connection, campaigns: set[str]) -> dict[str, int]:
    """Each campaign's attribution window, from the newest run's stored campaign file."""
    return {name: collections_of(conn, name).attribution_days for name in sorted(campaigns)}


def _attributions(
    conn: Connection, paid: list[tuple[PaymentRecord, _Target, dt.datetime]]
) -> dict[str, tuple[str | None, list[int]]]:
    """Per reference: the campaign of the latest contact before it, and the contacts in its window.

    A contact is an attempt that reached the debtor (a conversation, a text or
    email sent or delivered, a reply), made in the days before the payment
    that the campaign's ``attribution_days`` allow.
    """
    customers = sorted({t.customer_external for _, t, _ in paid})
    first = min(at for _, _, at in paid) - ATTRIBUTION_LOOKBACK
    rows = conn.execute(
        sa.select(
            EVENTS.c.id, EVENTS.c.customer_id, EVENTS.c.resolves_id, EVENTS.c.at, EVENTS.c.campaign
        )
        .where(
            EVENTS.c.customer_id.in_(customers),
            EVENTS.c.kind == "attempt",
            EVENTS.c.outcome.in_(CONTACT_OUTCOMES),
            EVENTS.c.at >= first,
        )
        .order_by(EVENTS.c.at)
    ).all()
    windows = _attribution_days(conn, {str(r.campaign) for r in rows if r.campaign})
    out: dict[str, tuple[str | None, list[int]]] = {}
    for record, target, at in paid:
        before = [r for r in rows if r.customer_id == target.customer_external and r.at <= at]
        if not before:
            out[record.reference] = (None, [])
            continue
        campaign = before[-1].campaign
        days = windows.get(campaign) if campaign else None
        window = dt.timedelta(days=days or collections_of(conn, None).attribution_days)
        # An attempt is its first row: an outcome row points at it, an imported
        # attempt (outcome and all in one row) is it.
        ids = sorted({int(r.resolves_id or r.id) for r in before if r.at >= at - window})
        out[record.reference] = (campaign if ids else None, ids)
    return out


def _apply_to_account(conn: Connection, account_id: int, amount: Decimal) -> None:
    account = conn.execute(
        sa.select(Account.balance, Account.minimum_due).where(Account.id == account_id)
    ).one()
    balance = max(Decimal(0), Decimal(account.balance) - amount)
    overdue = max(Decimal(0), Decimal(account.minimum_due) - amount)
    values: dict[str, Any] = {"balance": balance, "minimum_due": overdue}
    if overdue == 0:
        values["days_past_due"] = 0
    if balance == 0:
        values["status"] = "closed"
    conn.execute(sa.update(Account).where(Account.id == account_id).values(**values))


def _ledger_entry(
    record: PaymentRecord,
    target: _Target,
    at: dt.datetime,
    source: str,
    attribution: tuple[str | None, list[int]],
) -> LedgerEntry:
    campaign, contacts = attribution
    return LedgerEntry(
        at=at,
        customer_id=target.customer_external,
        debt_ids=(record.account_id,),
        channel="payment",
        direction="inbound",
        kind="payment",
        campaign=campaign,
        extra={
            "reference": record.reference,
            "amount": str(record.amount),
            "currency": record.currency,
            "source": source,
            "method": record.method,
            "paid_channel": record.channel,
            "attributed_attempts": contacts,
        },
        idempotency_key=f"payment:{record.reference}",
    )


def record_payments(
    engine: Engine,
    records: Sequence[PaymentRecord],
    *,
    source: str,
    now: dt.datetime,
    name: str = "payments",
) -> PaymentsSummary:
    """Record ``records`` in one transaction, or none of them (``PaymentsRejected``)."""
    summary = PaymentsSummary(received=len(records))
    with engine.begin() as conn:
        targets, known = _check(conn, records, name, now)
        fresh = [r for r in records if r.reference not in known]
        summary.duplicates = len(records) - len(fresh)
        if not fresh:
            return summary
        paid = [(r, targets[r.account_id]) for r in fresh]
        dated = [(r, t, paid_instant(r, t.zones)) for r, t in paid]
        attributions = _attributions(conn, dated)
        entries = [
            _ledger_entry(record, target, at, source, attributions[record.reference])
            for record, target, at in dated
        ]
        ledger_ids = append(conn, entries, now=now)
        for (record, target, at), ledger_id in zip(dated, ledger_ids, strict=True):
            conn.execute(
                sa.insert(Payment).values(
                    reference=record.reference,
                    customer_id=target.customer_id,
                    account_id=target.account_id,
                    amount=record.amount,
                    currency=record.currency,
                    paid_at=at,
                    received_at=now,
                    channel=record.channel,
                    method=record.method,
                    source=source,
                    allocated=Decimal(0),
                    ledger_event_id=ledger_id,
                )
            )
            _apply_to_account(conn, target.account_id, record.amount)
            summary.amounts[record.currency] = (
                summary.amounts.get(record.currency, Decimal(0)) + record.amount
            )
        summary.recorded = len(fresh)
        summary.promises = settle_promises(
            conn, now=now, customers=sorted({t.customer_id for _, t in paid})
        )
    return summary
