"""Dispatching a run's voice slot: fill its hopper from the plan, schedule its session job."""

from __future__ import annotations

import datetime as dt

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.clock import Clock
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
    clock: Clock | None = None,
) -> DialSlot:
    """Fill the slot's hopper (once) in plan order and schedule its dial session.

    ``contacts`` are (planned contact id, customer id) in priority order, as
    ``campaigns.run.dispatch`` passes them. Both steps are idempotent: a
    dispatch repeated after a crash (or after Redis lost the hopper and the
    job: call it again to recreate them) neither re-offers a reserved contact
    nor doubles the job.
    With a compressed ``clock`` (the demo's shared day) the job is scheduled
    for the real instant that clock reads the slot's start.
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
    clock = clock or Clock()
    scale = clock.factor if clock.sim_start is not None else 1.0
    dial = DialSlot(run.id, slot, start, start + dt.timedelta(hours=1), scale)
    enqueue_dial_session(queue, dial, at=clock.to_real(start))
    return dial


def voice_dispatcher(queue: Queue, *, clock: Clock | None = None) -> VoiceDispatcher:
    """A ``VoiceDispatcher`` for ``campaigns.run.dispatch.dispatch_plan`` on ``queue``.

    Workers must run with the same ``CADENCIA_SIM_CLOCK`` as the dispatcher
    when the day is compressed, and with ``DialerSettings.to_env()``.
    """

    def dispatch(
        engine: Engine, run: Run, campaign: Campaign, slot: int, contacts: list[tuple[int, str]]
    ) -> None:
        dispatch_voice_slot(queue, engine, run, campaign, slot, contacts, clock=clock)

    return dispatch
