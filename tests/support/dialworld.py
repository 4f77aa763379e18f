"""A small world for dial-session tests: debtors, a run, its voice plan, the settings.

Debtors live in New York with phones ``+1 212 555 000N``: the sandbox's
channel template ``Local/{last7}@pstn`` dials ``555000N``, which picks the
simulated outcome (1 answers, 2 busy, 3 no answer, 4 machine, 5 not in
service). Their time zone is set to one where it is early afternoon now, so
the guard's calling hours allow the calls whenever the tests run.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.dialing import DialerSettings, DialSlot, RedisHopper
from campaigns.ledger.chain import EVENTS
from campaigns.run.stored import plan_key
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import Customer, PlannedContact, Run
from sandbox.asterisk import SandboxState
from tests.support.portfolio import load_rows, us_row

CAMPAIGN_TOML = """
name = "us-dial-test"
currency = "USD"
timezone = "UTC"
first_hour = 0

[rule_packs]
US = ["us-regf", "house"]

[channels.voice]
cost = 0.35
sender = "+12125550100"

[agents]
per_slot = [2]
talk_minutes = {talk}
wrap_minutes = 0.0

[dialer]
mode = "{mode}"
ring_timeout_s = 10
amd = true
queue = "cadencia-test"
"""
# The slot is an hour long; TIME_SCALE makes it 3 minutes of real time (at
# most: a session ends as soon as its hopper is empty and its calls are done)
# and the 10 s ring timeout 2 s.
TIME_SCALE = 5.0


def zone_at_local_hour(hour: int) -> str:
    """An ``Etc/GMT±N`` zone where it is now about ``hour`` o'clock."""
    now = dt.datetime.now(dt.UTC)
    offset = (hour - now.hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


@dataclass
class DialWorld:
    """A migrated SQLite database with debtors and one run whose slot 0 is all voice."""

    engine: Engine
    url: str
    run_id: int
    planned: dict[str, int]  # customer id -> planned contact id
    slot: DialSlot
    prefix: str  # ChannelId prefix: tests share one Asterisk
    campaign: Campaign

    def keys(self) -> dict[str, str]:
        """Customer id -> guard key."""
        return {c: plan_key(p) for c, p in self.planned.items()}

    def contacts(self) -> list[tuple[int, str]]:
        """(planned contact id, customer id) in plan order."""
        return sorted((p, c) for c, p in self.planned.items())


def make_world(
    tmp: Path, numbers: list[str], *, mode: str = "progressive", talk_minutes: float = 0.1
) -> DialWorld:
    """Debtors D0..Dn with ``numbers`` (last 7 digits), planned in that order in slot 0."""
    url = f"sqlite:///{tmp}/dial.db"
    migrate(url)
    engine = make_engine(url)
    rows = [
        us_row(
            customer_id=f"D{i}",
            customer_name=f"Debtor Number{i}",
            account_id=f"DA{i}",
            phone_1=f"+1 212 {n[:3]} {n[3:]}",
            phone_1_consent="granted",
        )
        for i, n in enumerate(numbers)
    ]
    now = dt.datetime.now(dt.UTC)
    load_rows(engine, rows, now - dt.timedelta(days=1))
    zone = zone_at_local_hour(13)
    toml = CAMPAIGN_TOML.format(mode=mode, talk=talk_minutes)
    campaign = Campaign.model_validate(tomllib.loads(toml))
    start = now.replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        conn.execute(sa.update(Customer).values(timezones=zone))
        run_id = conn.execute(
            sa.insert(Run).values(
                campaign="us-dial-test",
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
        planned = {}
        for i in range(len(numbers)):
            planned[f"D{i}"] = conn.execute(
                sa.insert(PlannedContact).values(
                    run_id=run_id,
                    customer_id=f"D{i}",
                    channel="voice",
                    slot=0,
                    slot_start=start,
                    rank=i,
                    value=100.0 - i,
                    arm="optimised",
                    status="dispatched",
                )
            ).inserted_primary_key[0]  # type: ignore[index]
    slot = DialSlot(int(run_id), 0, start, start + dt.timedelta(hours=1), TIME_SCALE)
    return DialWorld(engine, url, int(run_id), planned, slot, f"t{uuid.uuid4().hex[:8]}", campaign)


def sandbox_settings(
    world: DialWorld,
    sandbox: SandboxState,
    redis_url: str,
    *,
    port: int | None = None,
    talk_s: float = 1.0,
    ring_s: float = 1.0,
) -> DialerSettings:
    """Settings that dial the sandbox's simulated phone network and queue."""
    return DialerSettings(
        database_url=world.url,
        redis_url=redis_url,
        ami_host=sandbox.host,
        ami_port=port or sandbox.port,
        ami_username=sandbox.username,
        ami_secret=sandbox.secret,
        channel_template="Local/{last7}@pstn",
        dial_queue="cadencia-test",
        dial_variables={"PSTN_RING": str(ring_s), "__AGENT_TALK": str(talk_s)},
        rq_queue="dialer-test",
        call_prefix=world.prefix,
        # each world's agent events in a namespace of its own (a worker gets it via to_env)
        agent_namespace=f"cadencia-test-{world.prefix}",
    )


def fill(world: DialWorld, redis_url: str) -> None:
    """Put the world's planned contacts in its slot's Redis hopper."""
    redis = Redis.from_url(redis_url)
    RedisHopper(redis, world.run_id, world.slot.slot).fill(world.contacts())
    redis.close()


def ledger(world: DialWorld) -> tuple[dict[str, Any], dict[int, Any]]:
    """Voice attempt rows by guard key, and outcome rows by the attempt they resolve."""
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.channel == "voice")).all()
    attempts = {r.idempotency_key: r for r in rows if r.resolves_id is None}
    outcomes: dict[int, Any] = {}
    for r in rows:
        if r.resolves_id is not None:
            assert r.resolves_id not in outcomes, f"attempt {r.resolves_id} has two outcomes"
            outcomes[r.resolves_id] = r
    return attempts, outcomes
