"""Transfers to a supervisor, against the real sandbox Asterisk.

A real dial session calls the debtor and puts them through to an agent (its
screen pop); the transfer is asked for as the console asks it
(``request_transfer``) and carried out by the call desk that ``cadencia
desk`` serves. The sandbox plays the phones: the debtor, the agents and the
supervisor (``agent9``, member ``supervisor1`` of ``cadencia-supervisors``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis

from campaigns.agents.events import agent_call
from campaigns.calls.service import run_desk
from campaigns.calls.transfer import TransferRequest, request_transfer
from campaigns.dialing import run_dial_session
from campaigns.ledger.chain import EVENTS
from campaigns.settings import DeskSettings
from sandbox.asterisk import SandboxState, cli_command
from tests.support.asterisk import reset_agents, run, until
from tests.support.dialworld import ledger, sandbox_settings
from tests.support.ownerworld import make_mx_world, plan_slot

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
AGENTS = ("agent1", "agent2")
SUPERVISORS = "cadencia-supervisors"


def test_a_transferred_call_pops_the_same_customer_on_the_supervisors_desktop(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    cli_command(asterisk_sandbox, "devstate change Custom:agent9 NOT_INUSE")
    world = make_mx_world(tmp_path, 1)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=6.0)
    namespace = settings.agent_namespace
    redis = Redis.from_url(dial_redis_url)
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)

    def talking(agent: str) -> bool:
        call = agent_call(redis, agent, namespace=namespace)
        return call.state == "talking" and call.customer_id == "D0"

    async def scenario() -> tuple[str, int | None, int | None]:
        stop = asyncio.Event()
        desk = asyncio.create_task(run_desk(DeskSettings(settings, "cadencia-inbound", "MX"), stop))
        session = asyncio.create_task(
            run_dial_session(settings, slot, session_options={"tick_s": 0.2})
        )
        await until(lambda: any(talking(a) for a in AGENTS), 30)
        agent = next(a for a in AGENTS if talking(a))
        first = agent_call(redis, agent, namespace=namespace).attempt_id
        request_transfer(
            redis,
            TransferRequest(agent, SUPERVISORS, "blind", dt.datetime.now(dt.UTC)),
            allowed=(SUPERVISORS,),
            namespace=namespace,
        )
        await until(lambda: talking("supervisor1"), 20)
        popped = agent_call(redis, "supervisor1", namespace=namespace).attempt_id
        await until(
            lambda: agent_call(redis, "supervisor1", namespace=namespace).state == "wrap", 30
        )
        await session
        stop.set()
        await desk
        return agent, first, popped

    agent, first, popped = run(scenario(), limit=150)
    redis.close()
    assert first is not None and popped == first
    attempts, outcomes = ledger(world)
    attempt = attempts[f"plan:{world.planned['D0@0']}"]
    assert attempt.id == first
    assert (outcomes[attempt.id].outcome, outcomes[attempt.id].agent) == ("conversation", agent)
    with world.engine.connect() as conn:
        legs = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "transfer")).all()
    assert len(legs) == 1
    leg = legs[0]
    assert (leg.customer_id, leg.agent, leg.direction) == ("D0", "supervisor1", "outbound")
    extra = json.loads(leg.extra)
    assert (extra["attempt"], extra["from_agent"], extra["mode"]) == (first, agent, "blind")
