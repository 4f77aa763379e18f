"""Paying on the portal: what the customer may pay, and the start of a hosted checkout.

After the identity check a customer may pay one of their pending promises
(the down payment or an instalment of an accepted plan, an accepted
settlement, a promise of their own: what is left of it) or an amount of
their choice up to what they owe in one currency, read as their locale
writes money (``campaigns.amounts``). ``start_payment`` writes the
``portal_payments`` row first, then asks the processor for a checkout
session and returns its URL; a processor error leaves the row ``failed``
with the reason and raises :class:`PaymentUnavailable` for the page.
The money is recorded only when the processor's signed webhook confirms it
(``campaigns.portal.payments.confirm_checkout``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.amounts import EXAMPLE, parse_amount, written
from campaigns.portal import payments
from campaigns.portal.actions import Context, PortalRefused, Problem
from campaigns.portal.checkout import ProcessorError, StripeCheckout, chargeable
from campaigns.portal.links import log_use
from campaigns.portal.terms import open_debts
from campaigns.storage.models import Promise


class PaymentUnavailable(Exception):
    """The processor made no checkout; ``retry`` says whether trying again soon may work."""

    def __init__(self, row_id: int, *, retry: bool) -> None:
        super().__init__(f"portal payment {row_id}: the processor made no checkout")
        self.row_id = row_id
        self.retry = retry


@dataclass(frozen=True)
class Payable:
    """A pending promise the customer can pay now: what is left of it."""

    promise_id: int
    amount: Decimal
    currency: str
    due_on: dt.date


def payable_promises(engine: Engine, ctx: Context) -> list[Payable]:
    """The customer's pending promises, oldest due first, with what is left to pay."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                Promise.id, Promise.amount, Promise.paid_amount, Promise.currency, Promise.due_on
            )
            .where(Promise.customer_id == ctx.who.pk, Promise.status == "pending")
            .order_by(Promise.due_on, Promise.id)
        ).all()
    out = [
        Payable(
            int(r.id),
            chargeable(Decimal(r.amount) - Decimal(r.paid_amount), r.currency),
            r.currency,
            r.due_on,
        )
        for r in rows
    ]
    return [p for p in out if p.amount > 0]


def owed(engine: Engine, ctx: Context) -> dict[str, Decimal]:
    """What the customer owes per currency, on every open debt."""
    with engine.connect() as conn:
        debts = open_debts(conn, ctx.who.pk)
    totals: dict[str, Decimal] = {}
    for d in debts:
        totals[d.currency] = totals.get(d.currency, Decimal(0)) + d.balance
    return totals


def chosen_payment(
    engine: Engine, ctx: Context, form: dict[str, str], *, locale: str
) -> payments.NewPayment:
    """The payment the form asks for; raises :class:`PortalRefused` naming what is wrong."""
    base = payments.NewPayment(ctx.link.id, ctx.who.customer_id, ctx.link.campaign,
                               Decimal(0), "", "amount")  # fmt: skip
    totals = owed(engine, ctx)
    if form.get("promise"):
        found = next(
            (p for p in payable_promises(engine, ctx) if str(p.promise_id) == form["promise"]),
            None,
        )
        if found is None or found.currency not in totals:
            raise PortalRefused([Problem("pay", "This payment is no longer due.")])
        amount = min(found.amount, chargeable(totals[found.currency], found.currency))
        return replace(base, amount=amount, currency=found.currency, purpose="promise",
                       promise_id=found.promise_id)  # fmt: skip
    currency = form.get("currency") or (next(iter(totals)) if len(totals) == 1 else "")
    problems: list[Problem] = []
    if currency not in totals:
        problems.append(Problem("currency", "Choose the currency of one of your debts."))
    try:
        amount = chargeable(parse_amount(form.get("amount", ""), locale), currency)
    except ValueError:
        example = {"example": written(EXAMPLE, locale)}
        wrong = Problem("pay_amount", "Write the amount as %(example)s.", example)
        raise PortalRefused([*problems, wrong]) from None
    if currency in totals and not Decimal(0) < amount <= totals[currency]:
        problems.append(
            Problem("pay_amount", "The amount must be more than zero and at most what you owe.")
        )
    if problems:
        raise PortalRefused(problems)
    return replace(base, amount=amount, currency=currency)


def start_payment(
    engine: Engine, ctx: Context, chosen: payments.NewPayment, checkout: StripeCheckout, *,
    reference: str, label: str, language: str, now: dt.datetime,
) -> str:  # fmt: skip
    """The row, then the processor's checkout; the URL to send the customer to.

    Raises :class:`PaymentUnavailable` (the row kept ``failed`` with the reason).
    """
    row_id = payments.start(engine, chosen, processor=checkout.name, now=now)
    try:
        session = checkout.create(row_id=row_id, amount=chosen.amount, currency=chosen.currency,
                                  label=label, reference=reference, language=language)  # fmt: skip
    except ProcessorError as exc:
        payments.failed(engine, row_id, f"{'retry' if exc.retry else 'no retry'}: {exc.reason}",
                        now=now)  # fmt: skip
        with engine.begin() as conn:
            log_use(conn, ctx.link.id, "pay", "failed", now=now,
                    detail={"payment": row_id, "retry": exc.retry})  # fmt: skip
        raise PaymentUnavailable(row_id, retry=exc.retry) from exc
    payments.opened(engine, row_id, session.id, now=now)
    with engine.begin() as conn:
        log_use(conn, ctx.link.id, "pay", "ok", now=now,
                detail={"payment": row_id, "amount": str(chosen.amount),
                        "currency": chosen.currency, "purpose": chosen.purpose})  # fmt: skip
    return session.url
