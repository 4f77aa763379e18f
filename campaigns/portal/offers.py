"""The offer engine: what a customer qualifies for across all their debts. Pure.

Every open debt in the campaign's currency counts toward one total; debts in
another currency get no offer (the campaign's amounts are in its currency).

* **Settlement**: from ``settlement_min_days_past_due`` (the customer's most
  delinquent debt), the low end of ``settlement_discount`` off the total for
  a payment in full by the end of the promise window, rising linearly to the
  high end 180 days later; whole percents, rounded down.
* **Instalment plans**: for each ``[[offers.plans]]``, a down payment of at
  least ``min_down_payment`` of the total, then ``instalments - 1`` equal
  payments (the last takes the rounding) ``every_days`` apart. The customer
  qualifies when each later payment is at least ``min_instalment``.

Amounts are in cents; what the customer owes is never rounded down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from campaigns.campaign import Offers, Plan

CENT = Decimal("0.01")
DISCOUNT_RAMP_DAYS = 180


@dataclass(frozen=True)
class Debt:
    """One open debt as the engine reads it."""

    account_id: str
    balance: Decimal
    currency: str
    days_past_due: int


@dataclass(frozen=True)
class Instalment:
    """One payment of a plan: its number (1 is the down payment), date and amount."""

    number: int
    due_on: dt.date
    amount: Decimal


@dataclass(frozen=True)
class PlanOffer:
    """A plan the customer qualifies for; ``key`` names it in a form (``plan-3``)."""

    key: str
    currency: str
    total: Decimal
    instalments: tuple[Instalment, ...]


@dataclass(frozen=True)
class SettlementOffer:
    """A discount on the total for a payment in full by ``pay_by``."""

    currency: str
    total: Decimal
    discount: Decimal  # a share: 0.15 is 15 %
    amount: Decimal
    pay_by: dt.date


@dataclass(frozen=True)
class OfferSet:
    """Everything one customer qualifies for, and the debts it covers."""

    currency: str
    total: Decimal
    debt_ids: tuple[str, ...]
    settlement: SettlementOffer | None
    plans: tuple[PlanOffer, ...]


def propose(debts: Iterable[Debt], offers: Offers, currency: str, today: dt.date) -> OfferSet:
    """The offers of a customer with ``debts`` under a campaign's ``offers``, on ``today``."""
    counted = sorted(
        (d for d in debts if d.currency == currency and d.balance > 0), key=lambda d: d.account_id
    )
    total = sum((d.balance for d in counted), Decimal(0))
    if not counted:
        return OfferSet(currency, total, (), None, ())
    worst = max(d.days_past_due for d in counted)
    plans = tuple(
        p for p in (_plan(plan, total, currency, offers, today) for plan in offers.plans) if p
    )
    return OfferSet(
        currency,
        total,
        tuple(d.account_id for d in counted),
        _settlement(offers, total, currency, worst, today),
        plans,
    )


def discount_for(offers: Offers, days_past_due: int) -> Decimal:
    """The settlement discount at ``days_past_due`` (0 below the threshold), whole percents."""
    low, high = (Decimal(str(x)) for x in offers.settlement_discount)
    if high <= 0 or days_past_due < offers.settlement_min_days_past_due:
        return Decimal(0)
    ramp = min(
        Decimal(1),
        Decimal(days_past_due - offers.settlement_min_days_past_due) / DISCOUNT_RAMP_DAYS,
    )
    return ((low + (high - low) * ramp) * 100).to_integral_value(ROUND_FLOOR) / 100


def _settlement(
    offers: Offers, total: Decimal, currency: str, days_past_due: int, today: dt.date
) -> SettlementOffer | None:
    discount = discount_for(offers, days_past_due)
    if discount <= 0:
        return None
    amount = (total * (1 - discount)).quantize(CENT, ROUND_CEILING)
    pay_by = today + dt.timedelta(days=offers.promise_window_days)
    return SettlementOffer(currency, total, discount, amount, pay_by)


def _plan(
    plan: Plan, total: Decimal, currency: str, offers: Offers, today: dt.date
) -> PlanOffer | None:
    """The plan's schedule for ``total``, or None when an instalment would be too small."""
    down = (total * Decimal(str(plan.min_down_payment))).quantize(CENT, ROUND_CEILING)
    rest = total - down
    later = plan.instalments - 1
    each = (rest / later).quantize(CENT, ROUND_FLOOR)
    if down <= 0 or each <= 0 or each < Decimal(str(plan.min_instalment)):
        return None
    first = today + dt.timedelta(days=offers.down_payment_days)
    amounts = [down] + [each] * (later - 1) + [rest - each * (later - 1)]
    schedule = tuple(
        Instalment(n + 1, first + dt.timedelta(days=plan.every_days * n), amount)
        for n, amount in enumerate(amounts)
    )
    return PlanOffer(f"plan-{plan.instalments}", currency, total, schedule)
