"""One plan per customer a day: which campaign contacts a customer that two campaigns hold.

A debtor 30 days late on the car loan and 60 on the card must not be called
by two campaigns (two queues, two agents) on the same day. Each voice
contact already carries every open debt of the customer, whatever the
campaign, so one contact is enough. When a campaign is planned, the day's
other runs are read:

* a customer another run has already dispatched (a contact is on its way or
  made) stays with that run;
* otherwise the campaign with the higher ``priority`` (1 first) keeps them,
  and between equal priorities the run planned first;
* a customer this plan takes over from a lower-priority run planned earlier
  is dropped from that run's plan (its contacts ``dropped`` with the reason),
  which only touches contacts not yet dispatched.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign
from campaigns.run.stored import campaign_of
from campaigns.storage.models import PlannedContact, Run


@dataclass(frozen=True)
class Claim:
    """Another run of the day that plans the customer."""

    run_id: int
    campaign: str
    priority: int
    dispatched: bool  # a contact of that run went out (or is on its way)


@dataclass
class Dedupe:
    """What the day's other plans decide for this one (reported in the plan review)."""

    priority: int  # this campaign's
    left_to: dict[str, Claim] = field(default_factory=dict)  # customer -> the plan keeping them
    taken_from: dict[int, list[str]] = field(default_factory=dict)  # run id -> customers

    def reason(self, customer: str) -> str:
        """Why ``customer`` (one of ``left_to``) is not in this campaign's plan."""
        claim = self.left_to[customer]
        why = "a contact already dispatched" if claim.dispatched else f"priority {claim.priority}"
        return (
            f"in campaign {claim.campaign}'s plan today ({why}; this campaign's priority "
            f"{self.priority}): one plan per customer a day, every debt in one contact"
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready counts for the plan summary."""
        by_campaign: dict[str, int] = defaultdict(int)
        for claim in self.left_to.values():
            by_campaign[claim.campaign] += 1
        return {
            "left_to_other_campaigns": len(self.left_to),
            "left_to_by_campaign": dict(by_campaign),
            "taken_from_other_runs": {
                str(run): len(customers) for run, customers in self.taken_from.items()
            },
        }


def other_plans(conn: Connection, campaign: Campaign, day: dt.date) -> dict[str, Claim]:
    """The customers the day's runs of other campaigns plan, by customer id."""
    runs = [
        Run(**r)
        for r in conn.execute(
            sa.select(Run.__table__).where(Run.day == day, Run.campaign != campaign.name)
        ).mappings()
    ]
    claims: dict[str, Claim] = {}
    for run in sorted(runs, key=lambda r: r.id):
        priority = campaign_of(run).priority
        rows = conn.execute(
            sa.select(PlannedContact.customer_id, PlannedContact.status).where(
                PlannedContact.run_id == run.id, PlannedContact.status != "dropped"
            )
        )
        sent: dict[str, bool] = defaultdict(bool)
        for customer, status in rows:
            sent[str(customer)] |= status != "planned"
        for customer, dispatched in sent.items():
            held = claims.get(customer)
            if held is None or _outranks(priority, dispatched, held):
                claims[customer] = Claim(run.id, run.campaign, priority, dispatched)
    return claims


def _outranks(priority: int, dispatched: bool, held: Claim) -> bool:
    """Whether a later run's claim beats the one held (dispatched first, then priority)."""
    if held.dispatched != dispatched:
        return dispatched
    return priority < held.priority


def dedupe(campaign: Campaign, ids: Iterable[str], claims: dict[str, Claim]) -> Dedupe:
    """Who this plan leaves to other campaigns today and whom it takes over from them."""
    out = Dedupe(campaign.priority)
    for customer in ids:
        claim = claims.get(customer)
        if claim is None:
            continue
        if claim.dispatched or claim.priority <= campaign.priority:
            out.left_to[customer] = claim
        else:
            out.taken_from.setdefault(claim.run_id, []).append(customer)
    return out


def drop_taken(conn: Connection, campaign: Campaign, run_id: int, result: Dedupe) -> None:
    """Drop the taken-over customers' contacts from the other runs' plans (not yet dispatched)."""
    reason = (
        f"taken by campaign {campaign.name} (priority {campaign.priority}, run {run_id}): "
        "one plan per customer a day"
    )
    for other, customers in result.taken_from.items():
        for start in range(0, len(customers), 1000):
            conn.execute(
                sa.update(PlannedContact)
                .where(
                    PlannedContact.run_id == other,
                    PlannedContact.customer_id.in_(customers[start : start + 1000]),
                    PlannedContact.status == "planned",
                )
                .values(status="dropped", reason=reason)
            )
