"""Promises kept, partly kept or broken, decided by the payments that arrived.

A promise is **kept** as soon as payments cover its amount; when its grace
period has passed (``grace_days`` after the promised date, at the end of
that local day) it is **partly kept** if payments covered part of it and
**broken** if none did. Payments count toward a promise when they are in
its currency, on its account (or on any of the customer's accounts for a
promise on the total), and made between the day before it was taken and the
end of its grace period. Promises are settled oldest due date first, and a
payment is spent once: what kept one promise does not keep another.

``settlements`` is the pure rule; ``settle_promises`` applies it in the
database and writes each transition to the ledger with the payments that
decided it (kind ``settlement``, resolving the promise's own ledger row).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.ledger.chain import LedgerEntry, append
from campaigns.storage.models import Account, Customer, Payment, Promise

# A debtor sometimes pays minutes before the agent saves the promise.
EARLY_PAYMENT = dt.timedelta(days=1)
SETTLED = ("kept", "partly_kept", "broken")


@dataclass(frozen=True)
class OpenPromise:
    """A pending promise, as the rule needs it."""

    id: int
    customer_id: int
    account_id: int | None
    amount: Decimal
    currency: str
    created_at: dt.datetime
    due_on: dt.date
    grace_days: int
    zones: tuple[str, ...]
    paid_so_far: Decimal = Decimal(0)  # as last recorded, to skip unchanged rows

    def deadline(self) -> dt.datetime:
        """The end of the grace period: midnight after ``due_on + grace_days``, local time.

        With several candidate zones the latest midnight counts: the debtor is
        not held to a day that has not ended where they may be.
        """
        last = self.due_on + dt.timedelta(days=self.grace_days + 1)
        return max(
            dt.datetime.combine(last, dt.time(), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
            for zone in self.zones
        )


@dataclass
class OpenPayment:
    """A payment with money not yet spent on a settled promise."""

    id: int
    reference: str
    customer_id: int
    account_id: int
    currency: str
    paid_at: dt.datetime
    left: Decimal


@dataclass(frozen=True)
class Settlement:
    """What the payments say of one promise now: ``status`` None means still pending."""

    promise_id: int
    status: str | None
    paid: Decimal
    at: dt.datetime | None
    uses: tuple[tuple[int, Decimal], ...] = field(default=())


def _counts_for(promise: OpenPromise, deadline: dt.datetime, payment: OpenPayment) -> bool:
    return (
        payment.currency == promise.currency
        and promise.account_id in (None, payment.account_id)
        and promise.created_at - EARLY_PAYMENT <= payment.paid_at < deadline
        and payment.left > 0
    )


def _settle_one(promise: OpenPromise, payments: list[OpenPayment], now: dt.datetime) -> Settlement:
    """Spend the customer's ``payments`` (in payment order) on ``promise``."""
    deadline = promise.deadline()
    paid = Decimal(0)
    uses: list[tuple[int, Decimal]] = []
    last_paid: dt.datetime | None = None
    for payment in payments:
        if paid >= promise.amount or not _counts_for(promise, deadline, payment):
            continue
        take = min(payment.left, promise.amount - paid)
        payment.left -= take
        paid += take
        uses.append((payment.id, take))
        last_paid = payment.paid_at
    if paid >= promise.amount:
        return Settlement(promise.id, "kept", paid, last_paid, tuple(uses))
    if now >= deadline:
        status = "partly_kept" if paid > 0 else "broken"
        return Settlement(promise.id, status, paid, deadline, tuple(uses))
    # Still pending: the money stays reserved for it within this pass.
    return Settlement(promise.id, None, paid, None, tuple(uses))


def settlements(
    promises: Iterable[OpenPromise], payments: Iterable[OpenPayment], *, now: dt.datetime
) -> list[Settlement]:
    """Decide every promise against the payments, oldest due date first (a payment spent once)."""
    by_customer: dict[int, list[OpenPayment]] = defaultdict(list)
    for payment in sorted(payments, key=lambda p: (p.paid_at, p.id)):
        by_customer[payment.customer_id].append(payment)
    return [
        _settle_one(promise, by_customer.get(promise.customer_id, []), now)
        for promise in sorted(promises, key=lambda p: (p.due_on, p.created_at, p.id))
    ]


@dataclass(frozen=True)
class SettleSummary:
    """How many promises each settlement pass moved, by new status."""

    kept: int = 0
    partly_kept: int = 0
    broken: int = 0
    pending: int = 0

    def as_dict(self) -> dict[str, int]:
        """JSON-ready."""
        return {
            "kept": self.kept,
            "partly_kept": self.partly_kept,
            "broken": self.broken,
            "pending": self.pending,
        }


def _open_promises(conn: Connection, customers: Sequence[int] | None) -> list[OpenPromise]:
    query = (
        sa.select(
            Promise.id,
            Promise.customer_id,
            Promise.account_id,
            Promise.amount,
            Promise.currency,
            Promise.created_at,
            Promise.due_on,
            Promise.grace_days,
            Promise.paid_amount,
            Customer.timezones,
        )
        .join(Customer, Customer.id == Promise.customer_id)
        .where(Promise.status == "pending")
    )
    if customers is not None:
        query = query.where(Promise.customer_id.in_(customers))
    return [
        OpenPromise(
            id=r.id,
            customer_id=r.customer_id,
            account_id=r.account_id,
            amount=Decimal(r.amount),
            currency=r.currency,
            created_at=r.created_at,
            due_on=r.due_on,
            grace_days=int(r.grace_days),
            zones=tuple(r.timezones.split(";")),
            paid_so_far=Decimal(r.paid_amount or 0),
        )
        for r in conn.execute(query)
    ]


def _open_payments(conn: Connection, customers: set[int]) -> list[OpenPayment]:
    if not customers:
        return []
    rows = conn.execute(
        sa.select(
            Payment.id,
            Payment.reference,
            Payment.customer_id,
            Payment.account_id,
            Payment.currency,
            Payment.paid_at,
            Payment.amount,
            Payment.allocated,
        ).where(Payment.customer_id.in_(sorted(customers)), Payment.allocated < Payment.amount)
    )
    return [
        OpenPayment(
            r.id,
            r.reference,
            r.customer_id,
            r.account_id,
            r.currency,
            r.paid_at,
            Decimal(r.amount) - Decimal(r.allocated),
        )
        for r in rows
    ]


def _ledger_entries(
    conn: Connection,
    decided: list[Settlement],
    promises: dict[int, OpenPromise],
    references: dict[int, str],
) -> list[LedgerEntry]:
    ids = sorted({promises[s.promise_id].customer_id for s in decided})
    external = dict(
        conn.execute(sa.select(Customer.id, Customer.external_id).where(Customer.id.in_(ids))).all()
    )
    accounts = dict(
        conn.execute(
            sa.select(Account.id, Account.external_id).where(Account.customer_id.in_(ids))
        ).all()
    )
    ledger_ids = dict(
        conn.execute(
            sa.select(Promise.id, Promise.ledger_event_id).where(
                Promise.id.in_([s.promise_id for s in decided])
            )
        ).all()
    )
    entries = []
    for s in decided:
        promise = promises[s.promise_id]
        assert s.at is not None and s.status is not None
        entries.append(
            LedgerEntry(
                at=s.at,
                customer_id=str(external[promise.customer_id]),
                debt_ids=(str(accounts[promise.account_id]),) if promise.account_id else (),
                channel="payment",
                direction="inbound",
                kind="settlement",
                outcome=s.status,
                resolves_id=ledger_ids.get(s.promise_id),
                extra={
                    "promise_id": s.promise_id,
                    "promised": str(promise.amount),
                    "paid": str(s.paid),
                    "currency": promise.currency,
                    "due_on": promise.due_on.isoformat(),
                    "payments": [
                        {"reference": references[pid], "amount": str(amount)}
                        for pid, amount in s.uses
                    ],
                },
                idempotency_key=f"promise:{s.promise_id}:settled",
            )
        )
    return entries


def settle_promises(
    conn: Connection, *, now: dt.datetime, customers: Sequence[int] | None = None
) -> SettleSummary:
    """Settle the pending promises (of ``customers``, default all); call inside a transaction.

    Writes each promise's new status, the money each payment spent, and one
    ledger ``settlement`` row per decided promise.
    """
    promises = _open_promises(conn, customers)
    if not promises:
        return SettleSummary()
    payments = _open_payments(conn, {p.customer_id for p in promises})
    by_id = {p.id: p for p in promises}
    references = {p.id: p.reference for p in payments}
    results = settlements(promises, payments, now=now)
    decided = [s for s in results if s.status is not None]
    spent: dict[int, Decimal] = defaultdict(Decimal)
    for s in decided:
        for payment_id, amount in s.uses:
            spent[payment_id] += amount
    for s in results:
        if s.status is None and s.paid == by_id[s.promise_id].paid_so_far:
            continue
        values: dict[str, object] = {"paid_amount": s.paid}
        if s.status is not None:
            values.update(status=s.status, settled_at=s.at)
        conn.execute(sa.update(Promise).where(Promise.id == s.promise_id).values(**values))
    for payment_id, amount in spent.items():
        conn.execute(
            sa.update(Payment)
            .where(Payment.id == payment_id)
            .values(allocated=Payment.allocated + amount)
        )
    if decided:
        append(conn, _ledger_entries(conn, decided, by_id, references), now=now)
    counts = {status: sum(s.status == status for s in results) for status in SETTLED}
    return SettleSummary(**counts, pending=sum(s.status is None for s in results))


def promise_fates(
    conn: Connection, customers: Collection[str], since: dt.datetime
) -> dict[tuple[str, dt.datetime], float | None]:
    """By (customer, instant taken): the share of each promise paid, None while pending.

    For the value model's kept-promise rate: kept 1, broken 0, partly kept
    the share paid; cancelled promises are left out.
    """
    rows = conn.execute(
        sa.select(
            Customer.external_id,
            Promise.created_at,
            Promise.status,
            Promise.amount,
            Promise.paid_amount,
        )
        .join(Customer, Customer.id == Promise.customer_id)
        .where(Promise.created_at >= since, Promise.status != "cancelled")
    )
    fates: dict[tuple[str, dt.datetime], float | None] = {}
    for customer, taken, status, amount, paid in rows:
        if customer not in customers:
            continue
        if status == "pending":
            fates[(customer, taken)] = None
        else:
            fates[(customer, taken)] = min(1.0, float(paid or 0) / float(amount)) if amount else 0.0
    return fates


def promise_taker(engine: Engine, customer_id: str, since: dt.datetime) -> str | None:
    """The agent who took the customer's latest promise broken (or partly kept) since ``since``.

    A follow-up call is offered first to the agent who heard the promise:
    they know what was agreed and why it was not kept. None when that promise
    came from no agent (an import, the bank's API) or none was broken.
    """
    with engine.connect() as conn:
        source = conn.execute(
            sa.select(Promise.source)
            .join(Customer, Customer.id == Promise.customer_id)
            .where(
                Customer.external_id == customer_id,
                Promise.status.in_(("broken", "partly_kept")),
                Promise.settled_at >= since,
            )
            .order_by(Promise.settled_at.desc(), Promise.id.desc())
            .limit(1)
        ).scalar()
    # Desktop promises carry the agent; imported ones say "import".
    if source is None or source == "import":
        return None
    return str(source)


def broken_since(conn: Connection, customers: Collection[str], since: dt.datetime) -> set[str]:
    """Customers with a promise settled broken (or partly kept) at or after ``since``."""
    rows = conn.execute(
        sa.select(Customer.external_id)
        .join(Promise, Promise.customer_id == Customer.id)
        .where(Promise.status.in_(("broken", "partly_kept")), Promise.settled_at >= since)
        .distinct()
    )
    return {str(r[0]) for r in rows if r[0] in customers}
