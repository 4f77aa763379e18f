"""The limits of an agent's offer, and an agent's ask judged against them. Pure.

The limits are the campaign's ``[offers]`` terms applied to the customer by
the offer engine (``campaigns.portal.offers.propose``, across all their
debts in the campaign's currency), so the desk and the portal agree:

* **settlement**: at most the engine's discount for the customer's most
  delinquent debt (none below ``settlement_min_days_past_due``), paid in
  full by the end of the promise window;
* **plan**: at most as many instalments as the largest configured plan; the
  plan that governs an ask of ``n`` instalments is the configured one with
  the fewest instalments ≥ ``n``; its down payment share, its minimum
  instalment and its spacing (``every_days``) are the other limits. The
  down payment is due ``down_payment_days`` out, as on the portal.

An ask beyond a limit is not refused: it is named (``Exceeded``) and waits
for a supervisor (``campaigns.negotiation.requests``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from campaigns.campaign import Offers
from campaigns.portal.offers import CENT, Instalment, OfferSet, PlanOffer, SettlementOffer

KINDS = ("settlement", "plan")
# The limits an ask may exceed, in the order they are shown.
LIMITS = ("settlement_discount", "promise_window", "instalments", "down_payment", "instalment",
          "spacing")  # fmt: skip


@dataclass(frozen=True)
class PlanLimit:
    """One configured plan as it applies to this customer's total."""

    instalments: int
    min_down_share: Decimal
    min_down_payment: Decimal  # the share of the total, rounded up to the cent
    min_instalment: Decimal
    every_days: int
    offer: PlanOffer | None  # the engine's schedule when the customer qualifies


@dataclass(frozen=True)
class Limits:
    """What an agent may agree with this customer without a supervisor."""

    currency: str
    total: Decimal
    debt_ids: tuple[str, ...]
    today: dt.date
    discount_range: tuple[Decimal, Decimal]
    min_days_past_due: int
    max_discount: Decimal  # 0: no settlement without a supervisor
    settlement: SettlementOffer | None
    promise_by: dt.date  # the last day of the promise window
    first_due: dt.date  # a plan's down payment
    plans: tuple[PlanLimit, ...]


@dataclass(frozen=True)
class Ask:
    """What the agent agreed with the customer: a settlement or an instalment plan."""

    kind: str
    amount: Decimal | None = None  # settlement: what the customer pays
    pay_by: dt.date | None = None
    instalments: int | None = None  # plan
    down_payment: Decimal | None = None
    every_days: int | None = None


@dataclass(frozen=True)
class Exceeded:
    """One limit an ask goes beyond; ``unit`` says how to show the values."""

    limit: str
    unit: str  # share | money | date | count | days
    asked: str
    allowed: str


@dataclass(frozen=True)
class Judged:
    """An ask with its schedule, its discount (a settlement) and the limits it exceeds."""

    ask: Ask
    schedule: tuple[Instalment, ...]
    discount: Decimal | None
    exceeded: tuple[Exceeded, ...]

    @property
    def inside(self) -> bool:
        """Within every limit: taken at once."""
        return not self.exceeded


def limits(offer_set: OfferSet, offers: Offers, today: dt.date) -> Limits:
    """The limits for a customer whose offers are ``offer_set`` under ``offers``, on ``today``."""
    total = offer_set.total
    low, high = (Decimal(str(x)) for x in offers.settlement_discount)
    by_count = {p.key: p for p in offer_set.plans}
    plans = tuple(
        PlanLimit(
            p.instalments,
            Decimal(str(p.min_down_payment)),
            (total * Decimal(str(p.min_down_payment))).quantize(CENT, ROUND_CEILING),
            Decimal(str(p.min_instalment)),
            p.every_days,
            by_count.get(f"plan-{p.instalments}"),
        )
        for p in sorted(offers.plans, key=lambda p: p.instalments)
    )
    settlement = offer_set.settlement
    return Limits(
        currency=offer_set.currency,
        total=total,
        debt_ids=offer_set.debt_ids,
        today=today,
        discount_range=(low, high),
        min_days_past_due=offers.settlement_min_days_past_due,
        max_discount=settlement.discount if settlement else Decimal(0),
        settlement=settlement,
        promise_by=today + dt.timedelta(days=offers.promise_window_days),
        first_due=today + dt.timedelta(days=offers.down_payment_days),
        plans=plans,
    )


def schedule(
    total: Decimal, down: Decimal, count: int, every_days: int, first: dt.date
) -> tuple[Instalment, ...]:
    """``down`` on ``first``, then ``count - 1`` equal payments (the last takes the rounding)."""
    rest = total - down
    later = count - 1
    each = (rest / later).quantize(CENT, ROUND_FLOOR)
    amounts = [down] + [each] * (later - 1) + [rest - each * (later - 1)]
    return tuple(
        Instalment(n + 1, first + dt.timedelta(days=every_days * n), amount)
        for n, amount in enumerate(amounts)
    )


def judge(ask: Ask, lim: Limits) -> Judged:
    """``ask`` against ``lim``: its schedule and every limit it exceeds (validated input)."""
    if ask.kind == "settlement":
        return _settlement(ask, lim)
    return _plan(ask, lim)


def _settlement(ask: Ask, lim: Limits) -> Judged:
    assert ask.amount is not None and ask.pay_by is not None
    discount = (1 - ask.amount / lim.total) if lim.total else Decimal(0)
    lowest = lim.settlement.amount if lim.settlement else lim.total
    exceeded = []
    if ask.amount < lowest:
        shown = (discount * 100).quantize(Decimal("0.01"), ROUND_CEILING) / 100
        exceeded.append(Exceeded("settlement_discount", "share", str(shown), str(lim.max_discount)))
    if ask.pay_by > lim.promise_by:
        exceeded.append(
            Exceeded("promise_window", "date", ask.pay_by.isoformat(), lim.promise_by.isoformat())
        )
    only = (Instalment(1, ask.pay_by, ask.amount),)
    return Judged(ask, only, discount.quantize(Decimal("0.0001")), tuple(exceeded))


def _plan(ask: Ask, lim: Limits) -> Judged:
    assert ask.instalments and ask.down_payment is not None and ask.every_days
    count, down = ask.instalments, ask.down_payment
    plans = lim.plans
    governing = next((p for p in plans if p.instalments >= count), plans[-1] if plans else None)
    exceeded = []
    most = plans[-1].instalments if plans else 0
    if count > most:
        exceeded.append(Exceeded("instalments", "count", str(count), str(most)))
    sched = schedule(lim.total, down, count, ask.every_days, lim.first_due)
    if governing is not None:
        if down < governing.min_down_payment:
            exceeded.append(
                Exceeded("down_payment", "money", str(down), str(governing.min_down_payment))
            )
        smallest = min(i.amount for i in sched[1:])
        if smallest < governing.min_instalment:
            exceeded.append(
                Exceeded("instalment", "money", str(smallest), str(governing.min_instalment))
            )
        if ask.every_days > governing.every_days:
            exceeded.append(
                Exceeded("spacing", "days", str(ask.every_days), str(governing.every_days))
            )
    return Judged(ask, sched, None, tuple(exceeded))
