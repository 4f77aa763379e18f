"""Money collected per arm of the experiment, from recorded payments, with 95% intervals.

A run's money is what its customers paid from the start of the run's day to
the end of the campaign's attribution window, in the campaign's currency.
Each customer's arm is stable across days (``campaigns.run.inputs.arm_of``),
so days can be pooled: ``uplift_between`` sums each customer's payments over
a period and compares the arms' means per customer (Welch's interval).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.campaign import Campaign
from campaigns.run.stored import campaign_of
from campaigns.storage.models import Customer, Payment, Run, RunCustomer

ARMS = ("optimised", "challenger", "holdout")


def welch(treated: list[float], control: list[float]) -> dict[str, float] | None:
    """Difference of means with a normal 95% interval (Welch); None below two per arm."""
    if len(treated) < 2 or len(control) < 2:
        return None

    def mean_var(xs: list[float]) -> tuple[float, float]:
        m = sum(xs) / len(xs)
        return m, sum((x - m) ** 2 for x in xs) / (len(xs) - 1)

    m1, v1 = mean_var(treated)
    m0, v0 = mean_var(control)
    diff = m1 - m0
    se = math.sqrt(v1 / len(treated) + v0 / len(control))
    return {
        "optimised_mean": m1,
        "control_mean": m0,
        "difference": diff,
        "ci95_low": diff - 1.96 * se,
        "ci95_high": diff + 1.96 * se,
    }


def day_start(campaign: Campaign, day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in the campaign's zone, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(campaign.timezone)).astimezone(
        dt.UTC
    )


def paid_by_customer(
    conn: Connection,
    customers: Collection[str],
    since: dt.datetime,
    until: dt.datetime,
    currency: str,
) -> dict[str, Decimal]:
    """What each of ``customers`` paid in ``[since, until)`` in ``currency``."""
    rows = conn.execute(
        sa.select(Customer.external_id, sa.func.sum(Payment.amount))
        .join(Customer, Customer.id == Payment.customer_id)
        .where(Payment.paid_at >= since, Payment.paid_at < until, Payment.currency == currency)
        .group_by(Customer.external_id)
    )
    return {str(c): Decimal(total) for c, total in rows if c in customers}


def arm_figures(
    arm_of: Mapping[str, str], paid: Mapping[str, Decimal], currency: str
) -> dict[str, Any]:
    """Per arm: customers, payers, money collected and per customer; the uplift intervals."""
    per_arm: dict[str, list[float]] = defaultdict(list)
    for customer, arm in arm_of.items():
        per_arm[arm].append(float(paid.get(customer, 0)))
    arms = {
        arm: {
            "customers": len(values),
            "payers": sum(1 for v in values if v > 0),
            "collected": round(sum(values), 2),
            "per_customer": round(sum(values) / len(values), 2) if values else None,
        }
        for arm, values in ((a, per_arm.get(a, [])) for a in ARMS)
    }
    return {
        "currency": currency,
        "arms": arms,
        "uplift_per_customer": {
            "vs_challenger": welch(per_arm["optimised"], per_arm["challenger"]),
            "vs_holdout": welch(per_arm["optimised"], per_arm["holdout"]),
        },
    }


def run_money(conn: Connection, run: Run, customers: Iterable[Any]) -> dict[str, Any]:
    """The run's money per arm: payments from its day's start through the attribution window."""
    campaign = campaign_of(run)
    since = day_start(campaign, run.day)
    until = since + dt.timedelta(days=campaign.collections.attribution_days)
    arm_of = {str(c["customer_id"]): str(c["arm"]) for c in customers}
    paid = paid_by_customer(conn, arm_of.keys(), since, until, campaign.currency)
    return {
        "from": since.isoformat(),
        "until": until.isoformat(),
        **arm_figures(arm_of, paid, campaign.currency),
    }


def uplift_between(
    engine: Engine, first: dt.date, last: dt.date, *, campaign: str | None = None
) -> list[dict[str, Any]]:
    """Per campaign: money per arm over the runs from ``first`` to ``last``, pooled per customer."""
    out = []
    with engine.connect() as conn:
        query = sa.select(Run.__table__).where(Run.day >= first, Run.day <= last).order_by(Run.day)
        if campaign is not None:
            query = query.where(Run.campaign == campaign)
        runs = [Run(**row) for row in conn.execute(query).mappings()]
        for name in sorted({r.campaign for r in runs}):
            mine = [r for r in runs if r.campaign == name]
            loaded = campaign_of(mine[-1])
            arm_of: dict[str, str] = {}
            for r in mine:  # a later run's arm wins, though arms are stable per customer
                arm_of.update(
                    (str(c), str(a))
                    for c, a in conn.execute(
                        sa.select(RunCustomer.customer_id, RunCustomer.arm).where(
                            RunCustomer.run_id == r.id
                        )
                    )
                )
            since = day_start(loaded, first)
            until = day_start(loaded, last) + dt.timedelta(
                days=1 + loaded.collections.attribution_days
            )
            paid = paid_by_customer(conn, arm_of.keys(), since, until, loaded.currency)
            out.append(
                {
                    "campaign": name,
                    "runs": len(mine),
                    "days": [r.day.isoformat() for r in mine],
                    "from": since.isoformat(),
                    "until": until.isoformat(),
                    **arm_figures(arm_of, paid, loaded.currency),
                }
            )
    return out
