"""How many voice attempts an agent-hour really carries, measured on the previous days.

The plan's voice capacity comes from the campaign's staffing model: an agent
spends talk + wrap-up minutes on each live answer, so an agent-hour carries
``60 × occupancy / ((talk + wrap) × right-party rate)`` attempts. A floor
rarely matches its model (ring times, answering machines, agents on breaks,
a PBX that cannot place calls that fast), and a plan that believes the model
asks for calls nobody makes. So the rate the dialer actually achieved on the
campaign's recent days is measured, in the hour slots where it still had
numbers left to dial, its own or those carried over from earlier slots
(elsewhere it ran out of work, which says nothing of capacity), and the
plan uses it when it is lower than the model's. Attempts are the campaign's
outbound voice attempts in the ledger during each slot.

The model itself is fed by the ledger once it holds enough calls: the share
of attempts that became conversations and their mean talk time replace the
campaign's prior right-party rate and talk minutes. A floor whose debtors
answer less than the priors said carries more attempts per agent-hour, and
a plan on the priors' rate leaves its agents idle (``bench.month`` measured
agents talking 16% of their hours while every slot ran out of numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign
from campaigns.ledger.chain import EVENTS
from campaigns.run.inputs import slot_starts
from campaigns.run.stored import campaign_of
from campaigns.storage.models import GuardDecisionRow, PlannedContact, Run

LOOKBACK_DAYS = 7
SLOT = dt.timedelta(hours=1)
# Fewer agent-hours than this measured say too little to override the model.
MIN_AGENT_HOURS = 2.0
# Fewer conversations than this say too little to replace the priors' rate and talk time.
MIN_CONVERSATIONS = 20


@dataclass(frozen=True)
class VoiceRate:
    """Attempts per agent-hour: the staffing model's, the one measured, the one planned with."""

    model: float
    measured: float | None
    agent_hours_measured: float
    model_basis: str = "priors"  # priors | ledger: where the model's rate and talk time came from

    @property
    def used(self) -> float:
        """The lower of the model and the measurement (the model when nothing was measured)."""
        if self.measured is None or self.agent_hours_measured < MIN_AGENT_HOURS:
            return self.model
        return min(self.model, self.measured)

    def as_dict(self) -> dict[str, float | str | None]:
        """JSON-ready."""
        return {
            "model": round(self.model, 2),
            "measured": None if self.measured is None else round(self.measured, 2),
            "agent_hours_measured": round(self.agent_hours_measured, 1),
            "used": round(self.used, 2),
            "model_basis": self.model_basis,
        }


def model_rate(
    campaign: Campaign, *, rpc: float | None = None, talk_minutes: float | None = None
) -> float:
    """Attempts an agent-hour carries by the staffing model (the campaign's priors by default)."""
    agents = campaign.agents
    if rpc is None:
        rpc = campaign.priors.right_party_rate.get("voice", 0.25)
    talk = agents.talk_minutes if talk_minutes is None else talk_minutes
    handle = (talk + agents.wrap_minutes) * rpc
    return 60.0 * agents.occupancy / handle if handle else float("inf")


def ledger_model_rate(conn: Connection, campaign: Campaign, day: dt.date) -> float | None:
    """The staffing model on the ledger's recent calls (None while it holds too few).

    Every outbound voice attempt of the campaign with an outcome in the
    look-back: the share that were conversations, and their mean talk time.
    """
    zone = ZoneInfo(campaign.timezone)
    since = dt.datetime.combine(day - dt.timedelta(days=LOOKBACK_DAYS), dt.time(), zone)
    until = dt.datetime.combine(day, dt.time(), zone)
    is_talk = EVENTS.c.outcome == "conversation"
    attempts, talks, talk_s = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(is_talk),
            sa.func.sum(EVENTS.c.duration_s).filter(is_talk),
        ).where(
            EVENTS.c.kind == "attempt",
            EVENTS.c.channel == "voice",
            EVENTS.c.direction == "outbound",
            EVENTS.c.outcome.is_not(None),
            EVENTS.c.campaign == campaign.name,
            EVENTS.c.at >= since,
            EVENTS.c.at < until,
        )
    ).one()
    if not talks or talks < MIN_CONVERSATIONS or not talk_s:
        return None
    return model_rate(campaign, rpc=talks / attempts, talk_minutes=talk_s / talks / 60.0)


def _slot_counts(
    conn: Connection, run_id: int, campaign: Campaign, day: dt.date
) -> tuple[list[int], list[int], list[int]]:
    """Voice attempts planned, made (the campaign's, in the ledger) and refused, per hour slot.

    Refused: planned calls the guard refused when their turn came. They were
    dealt with (at no cost to the floor), so a slot whose planned calls were
    all made or refused ran out of work; only calls never reached mean the
    floor had more work than it could carry.
    """
    planned = [0] * campaign.slots
    for slot, n in conn.execute(
        sa.select(PlannedContact.slot, sa.func.count())
        .where(PlannedContact.run_id == run_id, PlannedContact.channel == "voice")
        .group_by(PlannedContact.slot)
    ):
        planned[slot] = int(n)
    starts = slot_starts(campaign, day)
    made = [0] * campaign.slots
    for (at,) in conn.execute(
        sa.select(EVENTS.c.at).where(
            EVENTS.c.kind == "attempt",
            EVENTS.c.channel == "voice",
            EVENTS.c.direction == "outbound",
            EVENTS.c.resolves_id.is_(None),
            EVENTS.c.campaign == campaign.name,
            EVENTS.c.at >= starts[0],
            EVENTS.c.at < starts[-1] + SLOT,
        )
    ):
        slot = int((at - starts[0]) // SLOT)
        if 0 <= slot < campaign.slots:
            made[slot] += 1
    refused = [0] * campaign.slots
    for slot, n in _refused_per_slot(conn, run_id):
        if 0 <= slot < campaign.slots:
            refused[slot] = n
    return planned, made, refused


def _refused_per_slot(conn: Connection, run_id: int) -> list[tuple[int, int]]:
    """The run's planned voice contacts the guard refused at dial time, per slot."""
    key = sa.literal("plan:") + sa.cast(PlannedContact.id, sa.String)
    return [
        (int(slot), int(n))
        for slot, n in conn.execute(
            sa.select(PlannedContact.slot, sa.func.count(sa.distinct(PlannedContact.id)))
            .join(GuardDecisionRow, GuardDecisionRow.request_key == key)
            .where(
                PlannedContact.run_id == run_id,
                PlannedContact.channel == "voice",
                GuardDecisionRow.allowed.is_(False),
            )
            .group_by(PlannedContact.slot)
        )
    ]


def voice_rate(conn: Connection, campaign: Campaign, day: dt.date) -> VoiceRate:
    """The campaign's voice attempts per agent-hour, measured over its recent past days."""
    runs = conn.execute(
        sa.select(Run.__table__)
        .where(
            Run.campaign == campaign.name,
            Run.day < day,
            Run.day >= day - dt.timedelta(days=LOOKBACK_DAYS),
        )
        .order_by(Run.day)
    ).mappings()
    attempts = agent_hours = 0.0
    for run in [Run(**r) for r in runs]:
        stored = campaign_of(run)
        planned, made, refused = _slot_counts(conn, run.id, stored, run.day)
        if not any(made):
            continue  # no dial session ran that day (no PBX): nothing was measured
        backlog = 0
        for slot, agents in enumerate(stored.agents.per_slot):
            # Leads a slot did not reach are carried to the next one
            # (campaigns.dialing.hopper), so a slot had work left at its end
            # when everything planned so far outnumbers what was dialed or
            # refused so far. One that ran out of work says nothing of what
            # the floor can carry, nor does an hour nobody dialed in.
            backlog += planned[slot] - made[slot] - refused[slot]
            if agents > 0 and backlog > 0 and made[slot] > 0:
                attempts += made[slot]
                agent_hours += agents
            backlog = max(backlog, 0)
    measured = attempts / agent_hours if agent_hours else None
    learned = ledger_model_rate(conn, campaign, day)
    if learned is None:
        return VoiceRate(model_rate(campaign), measured, agent_hours)
    return VoiceRate(learned, measured, agent_hours, "ledger")
