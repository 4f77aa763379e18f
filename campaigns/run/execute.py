"""The execution steps of a run: dispatch its plan, then close it when the day is done."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import sqlalchemy as sa
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.clock import Clock
from campaigns.ledger.chain import EVENTS
from campaigns.run.dispatch import VoiceDispatcher, dispatch_plan
from campaigns.run.inputs import slot_starts
from campaigns.run.stored import plan_key
from campaigns.storage.models import PlannedContact, Run

# How long after the last slot ends a run waits for late outcomes before closing.
CLOSE_GRACE = dt.timedelta(minutes=30)
# How many graces a run waits for its last outcomes before closing without them.
PENDING_PATIENCE = 3


def unsettled_attempts(engine: Engine, run_id: int) -> int:
    """Attempts of the run still pending (no outcome recorded yet)."""
    with engine.connect() as conn:
        ids = [
            int(i)
            for i in conn.execute(
                sa.select(PlannedContact.id).where(PlannedContact.run_id == run_id)
            ).scalars()
        ]
        pending = 0
        for start in range(0, len(ids), 500):
            keys = [plan_key(i) for i in ids[start : start + 500]]
            attempts = EVENTS.alias("attempts")
            outcomes = EVENTS.alias("outcomes")
            pending += int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(attempts)
                    .where(
                        attempts.c.idempotency_key.in_(keys),
                        ~sa.exists().where(outcomes.c.resolves_id == attempts.c.id),
                    )
                ).scalar_one()
            )
    return pending


def execution_step(
    message_queue: Queue,
    *,
    voice: VoiceDispatcher | None = None,
    grace: dt.timedelta = CLOSE_GRACE,
    clock: Clock | None = None,
) -> Callable[[Engine, Run, Campaign, dt.datetime], str | None]:
    """The step ``advance`` runs for approved, dispatching and executing runs."""

    def step(engine: Engine, run: Run, campaign: Campaign, now: dt.datetime) -> str | None:
        if run.state == "approved":
            return "dispatching"
        if run.state == "dispatching":
            dispatch_plan(engine, run, campaign, message_queue, voice=voice, clock=clock)
            return "executing"
        day_end = slot_starts(campaign, run.day)[-1] + dt.timedelta(hours=1)
        if now < day_end:
            # Jobs lost with a Redis restart are recreated; the rest are found.
            dispatch_plan(
                engine, run, campaign, message_queue, voice=voice, resync_before=now, clock=clock
            )
        if now < day_end + grace:
            return None  # slots open, or late outcomes may still arrive
        pending = unsettled_attempts(engine, run.id)
        if pending and now < day_end + PENDING_PATIENCE * grace:
            return None  # outcomes outstanding: give them longer
        # A day ends. An attempt whose outcome never came (a call up when its
        # session ended, a lost AMI event) stays visibly pending in the ledger
        # for an operator to reconcile; the run records how many.
        with engine.begin() as conn:
            conn.execute(
                sa.update(PlannedContact)
                .where(PlannedContact.run_id == run.id, PlannedContact.status == "dispatched")
                .values(status="closed")
            )
            summary = json.loads(run.summary or "{}")
            summary["pending_at_close"] = pending
            conn.execute(sa.update(Run).where(Run.id == run.id).values(summary=json.dumps(summary)))
        return "closed"

    return step
