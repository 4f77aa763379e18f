"""Dispatching a run's voice slot: fill its hopper from the plan, schedule its session job."""

from __future__ import annotations

import datetime as dt
import functools

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.clock import Clock
from campaigns.dialing.hopper import RedisHopper, reserved_keys
from campaigns.dialing.job import DialSlot, enqueue_dial_session, session_queue_name
from campaigns.queues import rq_queue
from campaigns.run.dispatch import VoiceDispatcher
from campaigns.run.inputs import slot_starts
from campaigns.run.stored import plan_key
from campaigns.storage.models import Run


def dispatch_voice_slot(
    queue: Queue,
    engine: Engine,
    run: Run,
    campaign: Campaign,
    slot: int,
    contacts: list[tuple[int, str]],
    *,
    clock: Clock | None = None,
    resync: bool = False,
) -> DialSlot:
    """Fill the slot's hopper (once) in plan order and schedule its dial session.

    The session goes on ``queue``, or on ``dialer-<server>`` (same Redis) when
    the campaign names the Asterisk server that dials it.

    ``contacts`` are (planned contact id, customer id) in priority order, as
    ``campaigns.run.dispatch`` passes them. Both steps are idempotent: a
    dispatch repeated after a crash (or after Redis lost the hopper and the
    job: call it again to recreate them) neither re-offers a reserved contact
    nor doubles the job.
    With a compressed ``clock`` (the demo's shared day) the job is scheduled
    for the real instant that clock reads the slot's start.
    A campaign in preview mode gets its hopper and no session: its agents
    take the leads themselves.
    ``resync``: the slot was dispatched before; a session that is scheduled,
    running or finished stays as it is, only one Redis lost (or that failed)
    is scheduled again.
    """
    starts = slot_starts(campaign, run.day)
    if not 0 <= slot < len(starts):
        raise ValueError(
            f"dispatch: slot {slot} is outside campaign {campaign.name}'s {len(starts)} slots"
        )
    redis = queue.connection
    assert isinstance(redis, Redis)
    if campaign.dialer.server:
        # Only that Asterisk server's workers (AMI settings) may run its sessions.
        queue = rq_queue(session_queue_name(campaign), connection=redis)
    start = starts[slot]
    clock = clock or Clock()
    scale = clock.factor_at(start)
    dial = DialSlot(run.id, slot, start, start + dt.timedelta(hours=1), scale)
    hopper = RedisHopper(redis, run.id, slot)
    if not hopper.exists():
        # a contact already reserved (a dispatch that crashed after filling,
        # then Redis lost the hopper) must be reconciled, never dialed blindly
        hopper.fill(contacts, reserved_keys(engine, [plan_key(pid) for pid, _ in contacts]))
    if campaign.dialer.mode == "preview":
        # Agents take this slot's leads one at a time (campaigns.dialing.preview);
        # a session would place no call, and resuming a lead an agent is
        # previewing would dial it behind the agent's back.
        return dial
    enqueue_dial_session(queue, dial, at=clock.to_real(start), keep_finished=resync)
    return dial


def voice_dispatcher(queue: Queue, *, clock: Clock | None = None) -> VoiceDispatcher:
    """A ``VoiceDispatcher`` for ``campaigns.run.dispatch.dispatch_plan`` on ``queue``.

    Workers must run with the same ``CADENCIA_SIM_CLOCK`` as the dispatcher
    when the day is compressed, and with ``DialerSettings.to_env()``.
    """
    return functools.partial(dispatch_voice_slot, queue, clock=clock)
