"""Dispatching a run's voice slot: fill its hopper from the plan, schedule its session job."""

from __future__ import annotations

import datetime as dt

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.dialing.hopper import RedisHopper, reserved_keys
from campaigns.dialing.job import DialSlot, enqueue_dial_session
from campaigns.models import Run
from campaigns.report.data import plan_key
from campaigns.run.dispatch import VoiceDispatcher
from campaigns.run.inputs import slot_starts


def dispatch_voice_slot(
    queue: Queue,
    engine: Engine,
    run: Run,
    campaign: Campaign,
    slot: int,
    contacts: list[tuple[int, str]],
    *,
    time_scale: float = 1.0,
    origin: dt.datetime | None = None,
) -> DialSlot:
    """Fill the slot's hopper (once) in plan order and schedule its dial session.

    ``contacts`` are (planned contact id, customer id) in priority order, as
    ``campaigns.run.dispatch`` passes them. Both steps are idempotent: a
    dispatch repeated after a crash (or after Redis lost the hopper and the
    job: call it again to recreate them) neither re-offers a reserved contact
    nor doubles the job.
    With ``time_scale`` > 1 and ``origin`` (a compressed day), the session
    starts at ``origin`` plus the slot's offset in the day divided by the scale.
    """
    starts = slot_starts(campaign, run.day)
    if not 0 <= slot < len(starts):
        raise ValueError(
            f"dispatch: slot {slot} is outside campaign {campaign.name}'s {len(starts)} slots"
        )
    redis = queue.connection
    assert isinstance(redis, Redis)
    hopper = RedisHopper(redis, run.id, slot)
    if not hopper.exists():
        # a contact already reserved (a dispatch that crashed after filling,
        # then Redis lost the hopper) must be reconciled, never dialed blindly
        hopper.fill(contacts, reserved_keys(engine, [plan_key(pid) for pid, _ in contacts]))
    start = starts[slot]
    dial = DialSlot(run.id, slot, start, start + dt.timedelta(hours=1), time_scale)
    at = None
    if origin is not None:
        at = origin + (start - starts[0]) / time_scale
    enqueue_dial_session(queue, dial, at=at)
    return dial


def voice_dispatcher(
    queue: Queue, *, time_scale: float = 1.0, origin: dt.datetime | None = None
) -> VoiceDispatcher:
    """A ``VoiceDispatcher`` for ``campaigns.run.dispatch.dispatch_plan`` on ``queue``."""

    def dispatch(
        engine: Engine, run: Run, campaign: Campaign, slot: int, contacts: list[tuple[int, str]]
    ) -> None:
        dispatch_voice_slot(
            queue, engine, run, campaign, slot, contacts, time_scale=time_scale, origin=origin
        )

    return dispatch
