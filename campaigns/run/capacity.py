"""How many voice attempts an agent-hour really carries, measured on the previous days.

The plan's voice capacity comes from the campaign's staffing model: an agent
spends talk + wrap-up minutes on each live answer, so an agent-hour carries
``60 × occupancy / ((talk + wrap) × right-party rate)`` attempts. A floor
rarely matches its model (ring times, answering machines, agents on breaks,
a PBX that cannot place calls that fast), and a plan that believes the model
asks for calls nobody makes. So the rate the dialer actually achieved on the
campaign's recent days is measured, in the hour slots where it still had
numbers left to dial (elsewhere it ran out of work, which says nothing of
capacity), and the plan uses it when it is lower than the model's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign
from campaigns.ledger.chain import existing_keys
from campaigns.run.stored import campaign_of, plan_key
from campaigns.storage.models import PlannedContact, Run

LOOKBACK_DAYS = 7
# Fewer agent-hours than this measured say too little to override the model.
MIN_AGENT_HOURS = 2.0


@dataclass(frozen=True)
class VoiceRate:
    """Attempts per agent-hour: the staffing model's, the one measured, the one planned with."""

    model: float
    measured: float | None
    agent_hours_measured: float

    @property
    def used(self) -> float:
        """The lower of the model and the measurement (the model when nothing was measured)."""
        if self.measured is None or self.agent_hours_measured < MIN_AGENT_HOURS:
            return self.model
        return min(self.model, self.measured)

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready."""
        return {
            "model": round(self.model, 2),
            "measured": None if self.measured is None else round(self.measured, 2),
            "agent_hours_measured": round(self.agent_hours_measured, 1),
            "used": round(self.used, 2),
        }


def model_rate(campaign: Campaign) -> float:
    """Attempts an agent-hour carries by the campaign's staffing model."""
    agents = campaign.agents
    rpc = campaign.priors.right_party_rate.get("voice", 0.25)
    handle = (agents.talk_minutes + agents.wrap_minutes) * rpc
    return 60.0 * agents.occupancy / handle if handle else float("inf")


def _slot_counts(conn: Connection, run_id: int, slots: int) -> tuple[list[int], list[int]]:
    """Voice attempts planned and made, per hour slot of one run."""
    rows = conn.execute(
        sa.select(PlannedContact.id, PlannedContact.slot).where(
            PlannedContact.run_id == run_id, PlannedContact.channel == "voice"
        )
    ).all()
    made_keys = existing_keys(conn, (plan_key(int(r.id)) for r in rows))
    planned, made = [0] * slots, [0] * slots
    for r in rows:
        planned[r.slot] += 1
        made[r.slot] += plan_key(int(r.id)) in made_keys
    return planned, made


def voice_rate(conn: Connection, campaign: Campaign, day: dt.date) -> VoiceRate:
    """The campaign's voice attempts per agent-hour, measured over its last closed days."""
    runs = conn.execute(
        sa.select(Run.__table__)
        .where(
            Run.campaign == campaign.name,
            Run.day < day,
            Run.day >= day - dt.timedelta(days=LOOKBACK_DAYS),
            Run.state == "closed",
        )
        .order_by(Run.day)
    ).mappings()
    attempts = agent_hours = 0.0
    for run in [Run(**r) for r in runs]:
        stored = campaign_of(run)
        planned, made = _slot_counts(conn, run.id, stored.slots)
        for slot, agents in enumerate(stored.agents.per_slot):
            # A slot whose plan was all dialed ran out of work: its rate is no measure.
            if agents > 0 and planned[slot] > made[slot]:
                attempts += made[slot]
                agent_hours += agents
    measured = attempts / agent_hours if agent_hours else None
    return VoiceRate(model_rate(campaign), measured, agent_hours)
