"""Preview mode: the agent takes the slot's next customer from the hopper, then calls or skips.

A campaign in preview mode has its voice slots' hoppers filled by dispatch
like any other, but no dial session paces them (``dialer.pacing`` places no
call in preview; see ``campaigns.dialing.dispatch``). Instead an agent asks
for the next customer: :func:`take_next` moves the first ready lead of the
slot open now to "taken" (the same Lua step a session uses, so two agents
never get one customer). The agent then either

* calls: ``campaigns.dialing.manual.reserve_manual_dial`` with the planned
  contact's guard key ``plan:<id>``, the same path as a manual dial; or
* skips, with a reason: :func:`skip` marks the planned contact ``skipped``
  with ``skipped by <agent>: <reason>`` and finishes the lead.

A skip is stored on the planned contact, not in the contact ledger: the
ledger is the audited record of contacts and attempts (its rows count against
the law's limits), and a skip is neither; the plan's row is where the run's
report and "why was this debtor not called?" already look.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.dialing.hopper import RedisHopper
from campaigns.run.stored import campaign_of, plan_key
from campaigns.storage.models import PlannedContact, Run
from dialer.session import Lead

SLOT_LENGTH = dt.timedelta(hours=1)
SKIP_REASONS = (
    "paid or promised since the plan",
    "recent contact on another channel",
    "dispute or complaint open",
    "customer asked not to be called now",
    "other",
)


class PreviewError(ValueError):
    """The preview cannot go on; the message says why, for the agent."""


@dataclass(frozen=True)
class PreviewLead:
    """The customer an agent previews: planned contact, run, slot."""

    planned_id: int
    customer_id: str
    run_id: int
    campaign: str
    slot: int


def preview_runs(engine: Engine, day: dt.date) -> list[tuple[int, str]]:
    """(run id, campaign) of the day's dispatched runs whose campaign dials in preview mode."""
    with engine.connect() as conn:
        runs = [
            Run(**r)
            for r in conn.execute(
                sa.select(Run.__table__)
                .where(Run.day == day, Run.state.in_(("dispatching", "executing")))
                .order_by(Run.id)
            ).mappings()
        ]
    return [(r.id, r.campaign) for r in runs if campaign_of(r).dialer.mode == "preview"]


def open_slot(engine: Engine, run_id: int, now: dt.datetime) -> int | None:
    """The run's voice slot under way at ``now``, if any."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(PlannedContact.slot, PlannedContact.slot_start)
            .where(PlannedContact.run_id == run_id, PlannedContact.channel == "voice")
            .distinct()
        ).all()
    for slot, start in sorted(rows):
        if start <= now < start + SLOT_LENGTH:
            return int(slot)
    return None


def take_next(engine: Engine, redis: Redis, run_id: int, now: dt.datetime) -> PreviewLead:
    """The next customer of the slot open now, taken from its hopper (rebuilt if Redis lost it)."""
    with engine.connect() as conn:
        run = conn.execute(sa.select(Run.__table__).where(Run.id == run_id)).mappings().first()
    if run is None or campaign_of(Run(**run)).dialer.mode != "preview":
        raise PreviewError(f"run {run_id} is not a preview campaign's run")
    slot = open_slot(engine, run_id, now)
    if slot is None:
        raise PreviewError(f"run {run_id} has no voice slot open now")
    hopper = RedisHopper(redis, run_id, slot)
    hopper.ensure(engine)
    leads = hopper.take(1)
    if not leads:
        raise PreviewError(f"nobody is left to call in run {run_id}'s slot {slot}")
    planned_id = int(leads[0].key.partition(":")[2])
    return PreviewLead(planned_id, leads[0].customer_id, run_id, str(run["campaign"]), slot)


def skip(
    engine: Engine, redis: Redis, planned_id: int, *, agent: str, reason: str, note: str = ""
) -> str:
    """Record that ``agent`` skipped the planned contact, and why; returns the stored reason."""
    if reason not in SKIP_REASONS:
        raise PreviewError(f"skip reason {reason!r}: choose one of {', '.join(SKIP_REASONS)}")
    note = " ".join(note.split())[:200]
    if reason == "other" and not note:
        raise PreviewError("skip reason 'other': say why in the note")
    stored = f"skipped by {agent}: {reason}" + (f" ({note})" if note else "")
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(PlannedContact.run_id, PlannedContact.slot, PlannedContact.customer_id)
            .where(PlannedContact.id == planned_id)
            .with_for_update()
        ).first()
        if row is None:
            raise PreviewError(f"planned contact {planned_id} does not exist")
        conn.execute(
            sa.update(PlannedContact)
            .where(PlannedContact.id == planned_id)
            .values(status="skipped", reason=stored)
        )
    RedisHopper(redis, int(row.run_id), int(row.slot)).finish(
        Lead(plan_key(planned_id), str(row.customer_id))
    )
    return stored


def give_back(engine: Engine, redis: Redis, planned_id: int) -> None:
    """Put an uncalled, unskipped previewed customer back at the front of their slot."""
    found = _in_hopper(engine, redis, planned_id)
    if found is not None:
        found[0].give_back(found[1])


def finish(engine: Engine, redis: Redis, planned_id: int) -> None:
    """The previewed customer was called and dispositioned: done with the lead."""
    found = _in_hopper(engine, redis, planned_id)
    if found is not None:
        found[0].finish(found[1])


def _in_hopper(engine: Engine, redis: Redis, planned_id: int) -> tuple[RedisHopper, Lead] | None:
    """The hopper holding the planned contact, and its lead."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(PlannedContact.run_id, PlannedContact.slot, PlannedContact.customer_id).where(
                PlannedContact.id == planned_id
            )
        ).first()
    if row is None:
        return None
    hopper = RedisHopper(redis, int(row.run_id), int(row.slot))
    return hopper, Lead(plan_key(planned_id), str(row.customer_id))
