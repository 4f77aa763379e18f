"""A call the agent asks for: one of the attached customer's numbers, guarded, then queued.

The console calls :func:`reserve_manual_dial` when an agent presses a dial
button (a manual dial, or "call" on a previewed customer). It checks that the
number is one of that customer's phones (:class:`NotTheCustomersNumber`
otherwise: nothing is checked, written or dialed), then asks
``guard_and_reserve`` exactly as the dial session does, with the campaign the
agent works under: a refusal comes back with each refusing rule and its
citation; an allowed call has its ``pending`` attempt row when this returns.

The call itself is placed by a dial worker, never by the console: the
console's AMI account may only pause queue members, the dialer's may
originate. :func:`enqueue_manual_dial` puts the job
(``campaigns.dialing.manual_call.manual_dial_job``) at the front of the
campaign's dial queue (``dialer``, or ``dialer-<server>`` for a campaign tied
to one Asterisk server, whose workers hold that server's AMI credentials).

A manual call is not autodialed (a person chose the number and presses the
button) and a live agent is on the line before the customer's phone rings,
so it can never be abandoned: the proposal says both, and the audit re-judges
the attempt with them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from redis import Redis
from rq.job import Job
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaigns.dialing.job import session_queue_name
from campaigns.dialing.ledger import VoiceTarget, load_voice_target
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.queues import rq_queue
from campaigns.reach import point_refusal
from campaigns.run.stored import campaign_of, plan_key
from campaigns.storage.models import ContactPoint, Customer, Run
from compliance import Proposal, load_packs

JOB_FUNC = "campaigns.dialing.manual_call.manual_dial_job"
# Long enough for any conversation; the job ends with the call.
JOB_TIMEOUT_S = 4 * 3600
RESULT_TTL_S = 24 * 3600


class NotTheCustomersNumber(PermissionError):
    """The number asked for is not one of the attached customer's phones."""


@dataclass(frozen=True)
class Phone:
    """One of a customer's phones; ``refusal`` says why it cannot be dialed (None: it can)."""

    point_id: int
    value: str
    line_type: str | None
    consent: str
    refusal: str | None


@dataclass(frozen=True)
class Refusal:
    """A rule that refused the call, as the agent sees it."""

    rule: str
    citation: str
    detail: str

    def __str__(self) -> str:
        cited = f" ({self.citation})" if self.citation else ""
        return f"refused by {self.rule}{cited}: {self.detail}"


@dataclass(frozen=True)
class ManualDial:
    """The job's payload: which attempt to place, for which agent, on which interface."""

    attempt_id: int
    agent: str
    interface: str
    customer_id: str
    run_id: int
    campaign: str
    planned_id: int | None = None
    queued_at: str | None = None  # ISO instant the console enqueued it (wall clock)

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready job argument."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ManualDial:
        """Parse a job argument; a missing field is named."""
        try:
            return cls(
                attempt_id=int(payload["attempt_id"]),
                agent=str(payload["agent"]),
                interface=str(payload["interface"]),
                customer_id=str(payload["customer_id"]),
                run_id=int(payload["run_id"]),
                campaign=str(payload["campaign"]),
                planned_id=(
                    int(payload["planned_id"]) if payload.get("planned_id") is not None else None
                ),
                queued_at=payload.get("queued_at"),
            )
        except KeyError as exc:
            raise ValueError(f"manual dial payload: missing field {exc}") from None


@dataclass(frozen=True)
class Reserved:
    """The guard's answer: ``dial`` when allowed (its attempt is pending), else ``refusals``."""

    dial: ManualDial | None
    number: str
    refusals: tuple[Refusal, ...] = ()


def customer_phones(engine: Engine, customer_id: str) -> list[Phone]:
    """The customer's phones in the bank's order, each with why it cannot be dialed."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ContactPoint)
            .join(Customer, Customer.id == ContactPoint.customer_id)
            .where(Customer.external_id == customer_id, ContactPoint.kind == "phone")
            .order_by(ContactPoint.position)
        ).all()
    return [
        Phone(
            point_id=int(p.id),
            value=str(p.value),
            line_type=p.line_type,
            consent=str(p.consent),
            refusal=point_refusal(
                "voice", p.value, p.line_type, p.opted_out_at, p.wrong_number_at, p.retired_at
            ),
        )
        for p in rows
    ]


def dial_runs(engine: Engine, day: dt.date) -> list[tuple[int, str]]:
    """(run id, campaign) of the day's runs an agent may dial under, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Run.id, Run.campaign)
            .where(Run.day == day, Run.state.not_in(("cancelled", "closed")))
            .order_by(Run.id.desc())
        ).all()
    return [(int(r.id), str(r.campaign)) for r in rows]


def run_of(engine: Engine, run_id: int) -> Run:
    """The run (detached from its session); ``LookupError`` when there is none."""
    with Session(engine) as db:
        run = db.get(Run, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        db.expunge(run)
    return run


def reserve_manual_dial(
    engine: Engine,
    *,
    run_id: int,
    customer_id: str,
    point_id: int,
    agent: str,
    interface: str,
    now: dt.datetime,
    planned_id: int | None = None,
) -> Reserved:
    """Check ``point_id`` is the customer's, then guard and reserve the call at ``now``.

    Raises :class:`NotTheCustomersNumber` (nothing written) and ``LookupError``
    for an unknown run. A previewed customer's call uses its planned contact's
    guard key, so the plan sees it attempted and a second press is a replay.
    """
    phone = next((p for p in customer_phones(engine, customer_id) if p.point_id == point_id), None)
    if phone is None:
        raise NotTheCustomersNumber(f"contact point {point_id} is not a phone of {customer_id}")
    run = run_of(engine, run_id)
    campaign = campaign_of(run)
    if phone.refusal is not None:
        return Reserved(None, phone.value, (Refusal("contact-point", "", phone.refusal),))
    target = load_voice_target(engine, customer_id)
    assert target is not None  # the phone's owner exists
    names = campaign.packs_for(target.country, target.subdivision)
    if not names:
        detail = f"campaign {campaign.name} has no rule pack for {target.country}: fail closed"
        return Reserved(None, phone.value, (Refusal("rule-packs", "", detail),))
    proposal = _proposal(target, phone, campaign.name, now)
    key = plan_key(planned_id) if planned_id is not None else f"manual:{agent}:{uuid.uuid4().hex}"
    extra = {"dialer": "preview" if planned_id is not None else "manual", "agent": agent}
    request = ContactRequest(key, proposal, tuple(load_packs(names)), extra)
    (result,) = guard_and_reserve(engine, [request], now=now)
    if not result.allowed:
        refusals = tuple(
            Refusal(r.rule, r.citation, r.detail) for r in result.decision.results if not r.ok
        )
        return Reserved(None, phone.value, refusals or (Refusal("guard", "", "refused"),))
    if result.replayed:
        detail = f"this planned contact was already called (attempt {result.attempt_id})"
        return Reserved(None, phone.value, (Refusal("already-called", "", detail),))
    assert result.attempt_id is not None
    dial = ManualDial(
        attempt_id=result.attempt_id,
        agent=agent,
        interface=interface,
        customer_id=customer_id,
        run_id=run_id,
        campaign=campaign.name,
        planned_id=planned_id,
    )
    return Reserved(dial, phone.value)


def _proposal(target: VoiceTarget, phone: Phone, campaign: str, now: dt.datetime) -> Proposal:
    """The call as the rules judge it: by hand, with the agent already on the line."""
    return Proposal(
        at=now,
        customer_id=target.customer_id,
        debt_ids=target.debt_ids,
        channel="voice",
        timezones=target.timezones,
        contact_point=phone.value,
        line_type=phone.line_type or "unknown",
        campaign=campaign,
        autodialed=False,  # the agent chose the number and pressed the button
        agent_guaranteed=True,  # the agent is on the line before the phone rings
    )


def enqueue_manual_dial(redis: Redis, engine: Engine, dial: ManualDial) -> Job:
    """Put the call at the front of its campaign's dial queue (one job per attempt)."""
    campaign = campaign_of(run_of(engine, dial.run_id))
    queue = rq_queue(session_queue_name(campaign), connection=redis)
    stamped = ManualDial(**{**asdict(dial), "queued_at": dt.datetime.now(dt.UTC).isoformat()})
    return queue.enqueue(
        JOB_FUNC,
        stamped.to_payload(),
        job_id=f"manual-dial-a{dial.attempt_id}",
        # An agent is waiting on the line: ahead of tomorrow's scheduled sessions.
        at_front=True,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=RESULT_TTL_S,
        description=f"manual dial attempt {dial.attempt_id} for {dial.agent}",
    )
