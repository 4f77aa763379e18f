"""A dial world for owner routing and callbacks: Mexican debtors, runs of several slots.

Mexico's rules (``mx-condusef``) limit collection contacts to 7:00-22:00
local time and nothing else, so one debtor can be called several times a day
(the house pack adds its 3 attempts a day where a test wants it). Phones are
``+52 55 5555 000N``: the sandbox dials the last seven digits, ``555000N``
(1 answers). As in ``tests.support.dialworld``, the debtors' zone is one
where it is early afternoon now.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from pathlib import Path

import sqlalchemy as sa
from redis import Redis

from campaigns.campaign import Campaign
from campaigns.dialing import DialSlot, RedisHopper
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import Customer, PlannedContact, Run
from tests.support.dialworld import TIME_SCALE, DialWorld, zone_at_local_hour
from tests.support.portfolio import load_rows, row

CAMPAIGN_TOML = """
name = "mx-owner-test"
currency = "MXN"
timezone = "UTC"
first_hour = 0

[rule_packs]
MX = {packs}

[channels.voice]
cost = 0.35
sender = "+525555550100"

[agents]
per_slot = [2]
talk_minutes = 0.1
wrap_minutes = 0.0

[dialer]
mode = "progressive"
ring_timeout_s = 10
amd = true
queue = "cadencia-test"
owner_wait_s = 10
"""


def make_mx_world(
    tmp: Path, debtors: int, *, packs: tuple[str, ...] = ("mx-condusef",)
) -> DialWorld:
    """Debtors D0..D(n-1) answering (``5550001``) and a run with no plan yet."""
    url = f"sqlite:///{tmp}/owner.db"
    migrate(url)
    engine = make_engine(url)
    rows = [
        row(
            customer_id=f"D{i}",
            customer_name=f"Deudor Numero{i}",
            country="MX",
            subdivision="MX-CMX",
            phone_1="+52 55 5555 0001",
            phone_1_consent="granted",
            account_id=f"DA{i}",
            currency="MXN",
            balance="15000.00",
            minimum_due="750.00",
            language="es",
        )
        for i in range(debtors)
    ]
    now = dt.datetime.now(dt.UTC)
    load_rows(engine, rows, now - dt.timedelta(days=1))
    toml = CAMPAIGN_TOML.format(packs=list(packs)).replace("'", '"')
    campaign = Campaign.model_validate(tomllib.loads(toml))
    start = now.replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        conn.execute(sa.update(Customer).values(timezones=zone_at_local_hour(13)))
        run_id = conn.execute(
            sa.insert(Run).values(
                campaign=campaign.name,
                day=start.date(),
                campaign_toml=toml,
                state="executing",
                needs_approval=False,
                created_at=now,
                updated_at=now,
                summary="{}",
                error=None,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    slot = DialSlot(int(run_id), 0, start, start + dt.timedelta(hours=1), TIME_SCALE)
    return DialWorld(engine, url, int(run_id), {}, slot, f"t{uuid.uuid4().hex[:8]}", campaign)


def plan_slot(world: DialWorld, slot: int, customers: list[str], redis_url: str) -> DialSlot:
    """Plan ``customers`` for voice in ``slot`` of the world's run, fill its hopper; its DialSlot.

    Every slot starts at the same instant (the session's compressed clock
    starts there), so each is a fresh session over the same calling hours.
    """
    start = world.slot.slot_start
    with world.engine.begin() as conn:
        ids = [
            int(
                conn.execute(
                    sa.insert(PlannedContact).values(
                        run_id=world.run_id,
                        customer_id=customer,
                        channel="voice",
                        slot=slot,
                        slot_start=start,
                        rank=rank,
                        value=100.0,
                        arm="optimised",
                        status="dispatched",
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            for rank, customer in enumerate(customers)
        ]
    redis = Redis.from_url(redis_url)
    RedisHopper(redis, world.run_id, slot).fill(list(zip(ids, customers, strict=True)))
    redis.close()
    world.planned.update({f"{c}@{slot}": i for c, i in zip(customers, ids, strict=True)})
    return DialSlot(world.run_id, slot, start, world.slot.slot_end, TIME_SCALE)


def real_time_slot(world: DialWorld, slot: int, minutes: int = 5) -> DialSlot:
    """A slot of the world's run that starts now and runs in real time (a callback's session)."""
    now = dt.datetime.now(dt.UTC)
    return DialSlot(world.run_id, slot, now, now + dt.timedelta(minutes=minutes), 1.0)
