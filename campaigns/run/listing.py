"""Runs by campaign and day, with their plan's size and the money each arm collected.

What the console's list of runs shows. The money is the run report's
(``campaigns.run.report.money``): payments in the campaign's currency from the
start of the run's day through its attribution window, per experiment arm;
here it is summed in the database per arm, so a list of many large runs stays
one query per run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaigns.run.report.money import ARMS, day_start
from campaigns.run.stored import campaign_of
from campaigns.storage.models import Customer, Payment, Run, RunCustomer

# States in which the plan has reached the queues, so money may follow from it.
EXECUTED = ("dispatching", "executing", "closed")


def campaign_names(engine: Engine) -> list[str]:
    """Every campaign that has had a run, by name."""
    with engine.connect() as conn:
        return [str(c) for c in conn.execute(sa.select(Run.campaign).distinct()).scalars()]


def list_runs(
    engine: Engine,
    *,
    campaign: str | None = None,
    day: dt.date | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Runs, newest day first: of ``campaign`` only, and of ``day`` only, when given.

    Each: id, campaign, day, state, whether it needs approval, customers and
    attempts planned (per channel), and money per arm (``None`` before dispatch).
    """
    query = sa.select(Run).order_by(Run.day.desc(), Run.campaign).limit(limit)
    if campaign:
        query = query.where(Run.campaign == campaign)
    if day is not None:
        query = query.where(Run.day == day)
    with Session(engine) as session:
        return [_line(session, run) for run in session.scalars(query)]


def _line(session: Session, run: Run) -> dict[str, Any]:
    summary = json.loads(run.summary or "{}")
    return {
        "id": run.id,
        "campaign": run.campaign,
        "day": run.day,
        "state": run.state,
        "needs_approval": bool(run.needs_approval),
        "customers": summary.get("customers"),
        "planned_attempts": summary.get("planned_attempts"),
        "by_channel": summary.get("by_channel", {}),
        "money": _money_per_arm(session, run) if run.state in EXECUTED else None,
    }


def _money_per_arm(session: Session, run: Run) -> dict[str, Any]:
    """{"currency", "arms": {arm: collected}} over the run's attribution window."""
    campaign = campaign_of(run)
    since = day_start(campaign, run.day)
    until = since + dt.timedelta(days=campaign.collections.attribution_days)
    rows = session.execute(
        sa.select(RunCustomer.arm, sa.func.sum(Payment.amount))
        .join(Customer, Customer.external_id == RunCustomer.customer_id)
        .join(Payment, Payment.customer_id == Customer.id)
        .where(
            RunCustomer.run_id == run.id,
            Payment.paid_at >= since,
            Payment.paid_at < until,
            Payment.currency == campaign.currency,
        )
        .group_by(RunCustomer.arm)
    ).all()
    paid = {str(arm): float(total or 0) for arm, total in rows}
    return {"currency": campaign.currency, "arms": {a: paid.get(a, 0.0) for a in ARMS}}
