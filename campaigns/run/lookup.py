"""One customer across recent runs: planned (channel, hour) or left out, and why.

For a manager answering "why was this debtor (not) contacted?". The plan's
own records say what was planned and why a customer was left out
(``run_customers.left_out_reason``); the guard's stored decisions say which
rule refused a planned contact at the moment of contact. When the plan left
a customer out for compliance, the reason names no rule, so the rules are
asked again, for each of the campaign's channels and hours of that day, on
the customer's history as the plan saw it (the ledger before the run was
created): the refusing rules come back with their statute citations.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaigns.campaign import Campaign
from campaigns.ledger.guard import LOOKBACK
from campaigns.ledger.history import customer_histories
from campaigns.run.inputs import slot_starts
from campaigns.run.stored import campaign_of, plan_key
from campaigns.storage.models import (
    Account,
    ContactPoint,
    Customer,
    GuardDecisionRow,
    PlannedContact,
    Run,
    RunCustomer,
)
from compliance import Event, Proposal, evaluate, load_packs

# Left-out reasons (the part before ":") that come from the contact rules.
COMPLIANCE_REASONS = ("compliance-blocked", "no-attempts-left")
CHANNEL_POINT = {"voice": "phone", "sms": "phone", "whatsapp": "phone", "email": "email"}


def customer_exists(engine: Engine, customer_id: str) -> bool:
    """True when the portfolio holds this customer id."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(Customer.id).where(Customer.external_id == customer_id)
        ).first()
    return found is not None


def customer_runs(engine: Engine, customer_id: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """The customer in the ``limit`` most recent runs that considered them, newest first.

    Each: the run (id, campaign, day, state), the customer's arm, their
    planned contacts (channel, local hour, status, and the refusing rules if
    the guard refused one), or the left-out reason and, for compliance, the
    rules that block them.
    """
    with Session(engine) as session:
        rows = session.execute(
            sa.select(Run, RunCustomer)
            .join(RunCustomer, RunCustomer.run_id == Run.id)
            .where(RunCustomer.customer_id == customer_id)
            .order_by(Run.day.desc(), Run.id.desc())
            .limit(limit)
        ).all()
        return [_in_run(session, run, rc) for run, rc in rows]


def _in_run(session: Session, run: Run, rc: RunCustomer) -> dict[str, Any]:
    campaign = campaign_of(run)
    reason = rc.left_out_reason
    reason_class = reason.split(":", 1)[0] if reason else None
    planned = _planned(session, run, campaign, rc.customer_id)
    return {
        "run_id": run.id,
        "campaign": run.campaign,
        "day": run.day,
        "state": run.state,
        "arm": rc.arm,
        "planned": planned,
        "left_out_reason": reason if not planned else None,
        "reason_class": reason_class,
        "blocked_by": (
            _blocking_rules(session, run, campaign, rc.customer_id)
            if not planned and reason_class in COMPLIANCE_REASONS
            else []
        ),
    }


def _planned(
    session: Session, run: Run, campaign: Campaign, customer_id: str
) -> list[dict[str, Any]]:
    """The customer's planned contacts in the run, with the guard's refusal if any."""
    zone = ZoneInfo(campaign.timezone)
    contacts = session.scalars(
        sa.select(PlannedContact)
        .where(PlannedContact.run_id == run.id, PlannedContact.customer_id == customer_id)
        .order_by(PlannedContact.slot, PlannedContact.rank)
    ).all()
    out = []
    for pc in contacts:
        refusals = session.execute(
            sa.select(GuardDecisionRow.rules).where(
                GuardDecisionRow.request_key == plan_key(pc.id), GuardDecisionRow.allowed.is_(False)
            )
        ).scalars()
        out.append(
            {
                "channel": pc.channel,
                "slot": pc.slot,
                "hour": pc.slot_start.astimezone(zone).strftime("%H:%M"),
                "timezone": campaign.timezone,
                "status": pc.status,
                "reason": pc.reason,
                "refused_by": [r for rules in refusals for r in json.loads(rules) if not r["ok"]],
            }
        )
    return out


def _blocking_rules(
    session: Session, run: Run, campaign: Campaign, customer_id: str
) -> list[dict[str, Any]]:
    """The rules that refuse each channel at every hour of the run's day, with citations.

    One line per channel and rule (the first hour's detail); a channel the
    customer has no contact point for is reported as such.
    """
    c = session.scalars(sa.select(Customer).where(Customer.external_id == customer_id)).first()
    if c is None:
        return []
    packs = tuple(load_packs(campaign.packs_for(c.country, c.subdivision)))
    zones = tuple(z for z in c.timezones.split(";") if z)
    debts = tuple(
        str(d)
        for d in session.execute(
            sa.select(Account.external_id).where(Account.customer_id == c.id)
        ).scalars()
    )
    points = session.execute(
        sa.select(ContactPoint.kind, ContactPoint.value, ContactPoint.line_type)
        .where(ContactPoint.customer_id == c.id)
        .order_by(ContactPoint.position)
    ).all()
    slots = slot_starts(campaign, run.day)
    history = customer_histories(session.connection(), [customer_id], slots[0] - LOOKBACK)[
        customer_id
    ]
    # The history as the plan saw it: nothing recorded after the run was made.
    seen = [e for e in history.events if e.at < run.created_at]
    found: list[dict[str, Any]] = []
    for channel in campaign.channels:
        point = next((p for p in points if p.kind == CHANNEL_POINT[channel]), None)
        if point is None:
            found.append(_no_point(channel))
            continue
        found.extend(
            _refusals(packs, seen, channel, slots, campaign, customer_id, debts, zones, point)
        )
    return found


def _no_point(channel: str) -> dict[str, Any]:
    return {
        "channel": channel,
        "rule": "reach",
        "citation": "",
        "detail": f"no {CHANNEL_POINT[channel]} on file for {channel}",
    }


def _refusals(
    packs: tuple[Any, ...],
    seen: list[Event],
    channel: str,
    slots: list[dt.datetime],
    campaign: Campaign,
    customer_id: str,
    debts: tuple[str, ...],
    zones: tuple[str, ...],
    point: Any,
) -> list[dict[str, Any]]:
    """Each rule refusing ``channel`` at some hour of the day, once, with its first detail."""
    by_rule: dict[str, dict[str, Any]] = {}
    for at in slots:
        proposal = Proposal(
            at=at,
            customer_id=customer_id,
            debt_ids=debts,
            channel=channel,
            timezones=zones,
            contact_point=point.value,
            line_type=point.line_type or "unknown",
            campaign=campaign.name,
        )
        for result in evaluate(packs, seen, proposal).results:
            if not result.ok and result.rule not in by_rule:
                by_rule[result.rule] = {
                    "channel": channel,
                    "rule": result.rule,
                    "citation": result.citation,
                    "detail": result.detail,
                }
    return list(by_rule.values())
