"""Dispatch: turn a run's plan into RQ jobs scheduled for their slots.

Messages go out as batches (hundreds per job, grouped by slot, channel and the
rule packs that apply). Batches are cut from the run's whole plan in a fixed
order, so the same plan always yields the same batch ids: dispatching again
(after a crash, or after Redis lost its queues) finds or recreates exactly the
jobs of the first time. Each planned contact keeps one guard key,
``plan:<id>``, so even a batch that runs twice sends each message once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.clock import Clock
from campaigns.ledger.chain import EVENTS
from campaigns.run.stored import plan_key
from campaigns.storage.models import Customer, PlannedContact, Run

if TYPE_CHECKING:
    from campaigns.messaging import MessageBatch

BATCH_SIZE = 500


class VoiceDispatcher(Protocol):
    """Fills a voice slot's hopper and schedules its dial session (``campaigns.dialing``)."""

    def __call__(
        self,
        engine: Engine,
        run: Run,
        campaign: Campaign,
        slot: int,
        contacts: list[tuple[int, str]],
        *,
        resync: bool = False,
    ) -> object:
        """``contacts``: the slot's (planned id, customer id) in plan order (result unused).

        ``resync``: the slot was dispatched before; recreate its session only
        if the queue lost it or it failed (one that is scheduled, runs or
        finished is left alone).
        """


@dataclass(frozen=True)
class DispatchReport:
    """What one dispatch pass scheduled."""

    message_batches: int
    messages: int
    voice_slots: int
    voice_contacts: int


@dataclass(frozen=True)
class _Member:
    planned_id: int
    customer_id: str
    status: str
    slot_start: dt.datetime
    value: float = 0.0


# A message group: the slot, the channel and the rule packs its members share.
_GroupKey = tuple[int, str, tuple[str, ...]]


@dataclass(frozen=True)
class _PlanGroups:
    """A run's plan sorted for dispatch, each list in plan order."""

    messages: dict[_GroupKey, list[_Member]]
    voice_planned: dict[int, list[tuple[int, str]]]  # slot -> (planned id, customer id) to dispatch
    voice_dispatched: dict[int, list[_Member]]  # slot -> contacts dispatched by an earlier pass


@dataclass(frozen=True)
class _Resync:
    """A resync pass: its "now" and the dispatched contacts that have no attempt yet."""

    now: dt.datetime
    unsent: set[int]

    def lost(self, members: list[_Member], slot_end: dt.datetime) -> bool:
        """Whether the queue may have lost these members' job: their slot is open, one unsent."""
        return self.now < slot_end and any(m.planned_id in self.unsent for m in members)


def _plan_rows(engine: Engine, run_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(
                    PlannedContact.id,
                    PlannedContact.customer_id,
                    PlannedContact.channel,
                    PlannedContact.slot,
                    PlannedContact.slot_start,
                    PlannedContact.status,
                    PlannedContact.value,
                    Customer.country,
                    Customer.subdivision,
                )
                .join(Customer, Customer.external_id == PlannedContact.customer_id)
                .where(PlannedContact.run_id == run_id)
                .order_by(
                    PlannedContact.slot,
                    PlannedContact.rank,
                    sa.desc(PlannedContact.value),
                    PlannedContact.id,
                )
            )
        )


def _attempted(engine: Engine, planned_ids: list[int]) -> set[int]:
    """Planned contacts that already have an attempt in the ledger."""
    found: set[int] = set()
    with engine.connect() as conn:
        for start in range(0, len(planned_ids), 500):
            keys = [plan_key(i) for i in planned_ids[start : start + 500]]
            found.update(
                int(str(k).removeprefix("plan:"))
                for k in conn.execute(
                    sa.select(EVENTS.c.idempotency_key).where(EVENTS.c.idempotency_key.in_(keys))
                ).scalars()
            )
    return found


def dispatch_plan(
    engine: Engine,
    run: Run,
    campaign: Campaign,
    message_queue: Queue,
    *,
    voice: VoiceDispatcher | None = None,
    resync_before: dt.datetime | None = None,
    clock: Clock | None = None,
) -> DispatchReport:
    """Schedule every planned contact not yet dispatched, and mark it dispatched.

    With ``resync_before`` (a "now"), also re-enqueue the batches of slots still
    open at that instant that hold dispatched contacts with no attempt yet: the
    queue may have lost them (a Redis restart); existing jobs are found, not doubled.
    """
    groups = _group_plan(_plan_rows(engine, run.id), campaign)
    resync = None if resync_before is None else _Resync(resync_before, _unsent(engine, groups))
    batches, messages = _dispatch_messages(
        engine, run, campaign, message_queue, groups.messages, resync, clock
    )
    if voice is not None:
        _dispatch_voice(engine, run, campaign, voice, groups, resync)
    return DispatchReport(
        batches,
        messages,
        len(groups.voice_planned) if voice else 0,
        sum(len(c) for c in groups.voice_planned.values()) if voice else 0,
    )


def _group_plan(rows: list[Any], campaign: Campaign) -> _PlanGroups:
    """Messages by slot, channel and rule packs; voice by slot, split into new and dispatched."""
    groups: dict[_GroupKey, list[_Member]] = defaultdict(list)
    voice_slots: dict[int, list[tuple[int, str]]] = defaultdict(list)
    voice_sent: dict[int, list[_Member]] = defaultdict(list)
    for row in rows:
        if row.channel == "voice":
            if row.status == "planned":
                voice_slots[int(row.slot)].append((int(row.id), str(row.customer_id)))
            elif row.status == "dispatched":
                voice_sent[int(row.slot)].append(
                    _Member(int(row.id), str(row.customer_id), row.status, row.slot_start)
                )
            continue
        packs = campaign.packs_for(row.country, row.subdivision)
        groups[(int(row.slot), row.channel, packs)].append(
            _Member(int(row.id), str(row.customer_id), row.status, row.slot_start, float(row.value))
        )
    return _PlanGroups(groups, voice_slots, voice_sent)


def _unsent(engine: Engine, groups: _PlanGroups) -> set[int]:
    """Dispatched contacts, messages and voice, that have no attempt in the ledger yet."""
    dispatched = [
        m.planned_id
        for ms in (*groups.messages.values(), *groups.voice_dispatched.values())
        for m in ms
        if m.status == "dispatched"
    ]
    return set(dispatched) - _attempted(engine, dispatched)


def _dispatch_messages(
    engine: Engine,
    run: Run,
    campaign: Campaign,
    message_queue: Queue,
    groups: dict[_GroupKey, list[_Member]],
    resync: _Resync | None,
    clock: Clock | None,
) -> tuple[int, int]:
    """Enqueue the batches holding new contacts, or lost ones; returns (batches, messages)."""
    from campaigns.messaging import enqueue_batch

    batches = messages = 0
    for key, members, rank in _by_priority(groups):
        slot_start = members[0].slot_start
        slot_end = slot_start + dt.timedelta(hours=1)
        for first in range(0, len(members), BATCH_SIZE):
            chunk = members[first : first + BATCH_SIZE]
            fresh = [m.planned_id for m in chunk if m.status == "planned"]
            lost = resync is not None and resync.lost(chunk, slot_end)
            if not fresh and not lost:
                continue
            batch = _message_batch(run, campaign, key, rank, chunk, slot_start)
            enqueue_batch(message_queue, batch, clock=clock, keep_finished=not fresh)
            _mark(engine, fresh)
            batches += 1
            messages += len(chunk)
    return batches, messages


def _message_batch(
    run: Run,
    campaign: Campaign,
    key: _GroupKey,
    rank: int,
    chunk: list[_Member],
    slot_start: dt.datetime,
) -> MessageBatch:
    """One batch of a group; its id depends only on the plan, so redispatching finds it."""
    from campaigns.messaging import MessageBatch, PlannedMessage

    slot, channel, packs = key
    digest = hashlib.sha256(",".join(packs).encode()).hexdigest()[:6]
    return MessageBatch(
        batch_id=f"run{run.id}-s{slot}-p{rank:02d}-{channel}-{digest}-{chunk[0].planned_id}",
        campaign=campaign.name,
        channel=channel,  # type: ignore[arg-type]
        slot_start=slot_start,
        slot_end=slot_start + dt.timedelta(hours=1),
        messages=tuple(PlannedMessage(plan_key(m.planned_id), m.customer_id) for m in chunk),
        packs=packs,
    )


def _dispatch_voice(
    engine: Engine,
    run: Run,
    campaign: Campaign,
    voice: VoiceDispatcher,
    groups: _PlanGroups,
    resync: _Resync | None,
) -> None:
    """Hand each slot's new voice contacts to ``voice``; on a resync, recreate lost sessions."""
    for slot, contacts in sorted(groups.voice_planned.items()):
        voice(engine, run, campaign, slot, contacts)
        _mark(engine, [pid for pid, _ in contacts])
    if resync is None:
        return
    # A Redis restart loses every scheduled dial session, so without this the
    # rest of the day's voice slots would never dial. The session rebuilds its
    # hopper from the plan and the ledger.
    for slot, members in sorted(groups.voice_dispatched.items()):
        if resync.lost(members, members[0].slot_start + dt.timedelta(hours=1)):
            contacts = [(m.planned_id, m.customer_id) for m in members]
            voice(engine, run, campaign, slot, contacts, resync=True)


def _by_priority(
    groups: dict[_GroupKey, list[_Member]],
) -> list[tuple[_GroupKey, list[_Member], int]]:
    """Each slot's groups, most valuable message first, with their rank in the slot.

    A slot's batches all fall due at its start: RQ queues them in the order
    dispatched, and its scheduler releases jobs due at the same second in job-id
    order, so the rank is dispatched first and written into the batch id. In
    channel order a slot's bulk email went first and its SMS and WhatsApp, worth
    more per message, waited behind it (on the 1M-debtor day, past the slot's close).
    """
    ordered = sorted(
        groups.items(),
        key=lambda g: (g[0][0], -sum(m.value for m in g[1]) / len(g[1]), g[0][1], g[0][2]),
    )
    return [
        (key, members, rank)
        for _, in_slot in itertools.groupby(ordered, key=lambda g: g[0][0])
        for rank, (key, members) in enumerate(in_slot)
    ]


def _mark(engine: Engine, ids: list[int]) -> None:
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.update(PlannedContact)
            .where(PlannedContact.id.in_(ids), PlannedContact.status == "planned")
            .values(status="dispatched")
        )
