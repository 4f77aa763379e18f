"""Dispatch: turn a run's plan into RQ jobs scheduled for their slots.

Messages go out as batches (hundreds per job, grouped by slot, channel and the
rule packs that apply); each planned contact keeps one guard key, ``plan:<id>``,
so a contact dispatched twice (a crash between enqueueing and marking) is still
sent once. Enqueueing is idempotent by job id, so a resumed dispatch finds the
jobs it already created instead of doubling them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.jobs import MessageBatch, PlannedMessage, enqueue_batch
from campaigns.models import Customer, PlannedContact, Run
from campaigns.report.data import plan_key

BATCH_SIZE = 500
MESSAGE_CHANNELS = ("sms", "whatsapp", "email")

VoiceDispatcher = Callable[[Engine, Run, Campaign, int, list[tuple[int, str]]], None]


@dataclass(frozen=True)
class DispatchReport:
    """What one dispatch pass scheduled."""

    message_batches: int
    messages: int
    voice_slots: int
    voice_contacts: int


def dispatch_plan(
    engine: Engine,
    run: Run,
    campaign: Campaign,
    message_queue: Queue,
    *,
    voice: VoiceDispatcher | None = None,
) -> DispatchReport:
    """Schedule every planned contact not yet dispatched; mark them dispatched."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                PlannedContact.id,
                PlannedContact.customer_id,
                PlannedContact.channel,
                PlannedContact.slot,
                PlannedContact.slot_start,
                PlannedContact.rank,
                PlannedContact.value,
                Customer.country,
                Customer.subdivision,
            )
            .join(Customer, Customer.external_id == PlannedContact.customer_id)
            .where(PlannedContact.run_id == run.id, PlannedContact.status == "planned")
            .order_by(
                PlannedContact.slot,
                PlannedContact.rank,
                sa.desc(PlannedContact.value),
                PlannedContact.id,
            )
        ).all()
    groups: dict[tuple[int, str, tuple[str, ...]], list[tuple[int, str, dt.datetime]]] = (
        defaultdict(list)
    )
    voice_slots: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        if row.channel == "voice":
            voice_slots[int(row.slot)].append((int(row.id), str(row.customer_id)))
        else:
            packs = campaign.packs_for(row.country, row.subdivision)
            groups[(int(row.slot), row.channel, packs)].append(
                (int(row.id), str(row.customer_id), row.slot_start)
            )
    batches = messages = 0
    for (slot, channel, packs), members in sorted(groups.items()):
        slot_start = members[0][2]
        for start in range(0, len(members), BATCH_SIZE):
            chunk = members[start : start + BATCH_SIZE]
            digest = hashlib.sha256(",".join(packs).encode()).hexdigest()[:6]
            batch = MessageBatch(
                batch_id=f"run{run.id}-{channel}-s{slot}-{digest}-{chunk[0][0]}",
                campaign=campaign.name,
                channel=channel,  # type: ignore[arg-type]
                slot_start=slot_start,
                slot_end=slot_start + dt.timedelta(hours=1),
                messages=tuple(PlannedMessage(plan_key(pid), cid) for pid, cid, _ in chunk),
                packs=packs,
            )
            enqueue_batch(message_queue, batch)
            _mark(engine, [pid for pid, _, _ in chunk])
            batches += 1
            messages += len(chunk)
    if voice is not None:
        for slot, contacts in sorted(voice_slots.items()):
            voice(engine, run, campaign, slot, contacts)
            _mark(engine, [pid for pid, _ in contacts])
    return DispatchReport(
        batches,
        messages,
        len(voice_slots) if voice else 0,
        sum(len(m) for m in voice_slots.values()) if voice else 0,
    )


def _mark(engine: Engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(PlannedContact)
            .where(PlannedContact.id.in_(ids), PlannedContact.status == "planned")
            .values(status="dispatched")
        )
