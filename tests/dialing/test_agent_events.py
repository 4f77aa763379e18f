"""The dial session publishes its agents' calls, and the console acts on them.

A real call through the sandbox Asterisk, placed by ``run_dial_session`` (the
dial job's body): the debtor answers, the queue puts the call through to the
one ready agent. The session, and nothing else, publishes ``connect`` then
``complete`` for that agent on Redis in the job's ``CADENCIA_AGENT_NAMESPACE``;
a console subscribed in that namespace pauses the agent's queue member for
wrap-up when the call ends, in Asterisk itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.agents.events import (
    AgentEvent,
    agent_board,
    agent_call,
    channel_of,
    subscribe_agent_events,
)
from campaigns.dialing import run_dial_session
from campaigns.settings import AmiSettings
from sandbox.asterisk import CONSOLE_USER, SandboxState
from tests.support.asterisk import member_pause, reset_agents, run
from tests.support.dialworld import fill, ledger, make_world, sandbox_settings

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
FAST = {"tick_s": 0.2, "drain_s": 30.0}
PASSWORD = "correct horse battery"


async def heard_during(redis_url: str, namespace: str, listeners: int, work: Any) -> Any:
    """Agent events published in ``namespace`` while ``work`` runs, up to the first complete."""
    client = redis.Redis.from_url(redis_url)
    stream = subscribe_agent_events(redis_url, namespace=namespace)
    heard: list[AgentEvent] = []

    async def listen() -> None:
        async for event in stream:
            heard.append(event)
            if event.type == "complete":
                return

    listening = asyncio.create_task(listen())
    try:
        # start only once Redis counts every subscriber (ours and the console's)
        async with asyncio.timeout(10):
            while client.pubsub_numsub(channel_of(namespace))[0][1] < listeners:
                await asyncio.sleep(0.02)
        result = await work
        await asyncio.wait_for(listening, 10)
        return result, heard
    finally:
        listening.cancel()
        await stream.aclose()
        client.close()


def test_the_dial_session_pops_the_call_and_the_console_holds_wrap_up(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=1, total=2)  # agent1 takes the call, agent2 is away
    world = make_world(tmp_path, ["5550001"])
    fill(world, dial_redis_url)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=1.0)
    namespace = settings.agent_namespace
    now = dt.datetime.now(dt.UTC)
    create_user(world.engine, "ana", PASSWORD, "agent", now=now,
                agent_id="agent1", queue_interface="Local/agent1@agents/n")  # fmt: skip
    ami = AmiSettings(  # the console's own AMI user (QueuePause only)
        asterisk_sandbox.host,
        asterisk_sandbox.port,
        CONSOLE_USER,
        asterisk_sandbox.console_secret,
    )
    console = create_web_app(
        world.engine, redis_url=dial_redis_url, ami=ami, namespace=namespace, secure_cookies=False
    )
    try:
        with TestClient(console):  # its lifespan subscribes to the agent events
            session = run_dial_session(settings, world.slot, session_options=FAST)
            report, heard = run(heard_during(dial_redis_url, namespace, 2, session))
            # the console heard the same complete: agent1 paused for wrap-up in Asterisk
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=15)
            while member_pause(asterisk_sandbox, "agent1") != "wrap-up":
                assert dt.datetime.now(dt.UTC) < deadline, "no wrap-up pause in the queue"
        assert report.outcomes == {"conversation": 1}
        attempts, outcomes = ledger(world)
        (attempt,) = attempts.values()
        assert outcomes[attempt.id].agent == "agent1"
        assert [e.type for e in heard] == ["connect", "complete"]
        for event in heard:
            assert (event.agent, event.customer_id, event.attempt_id) == (
                "agent1",
                "D0",
                attempt.id,
            )
            assert (event.run_id, event.campaign) == (world.run_id, "us-dial-test")
        assert heard[0].at <= heard[1].at
        # the state the desktop reads: in wrap-up, the customer kept until the disposition
        client = redis.Redis.from_url(dial_redis_url)
        call = agent_call(client, "agent1", namespace=namespace)
        board = agent_board(client, namespace=namespace)  # what the manager's dashboard lists
        client.close()
        assert (call.state, call.customer_id, call.attempt_id) == ("wrap", "D0", attempt.id)
        assert [(a.agent, a.state, a.customer_id) for a in board] == [("agent1", "wrap", "D0")]
    finally:
        reset_agents(asterisk_sandbox, ready=2)
        world.engine.dispose()
