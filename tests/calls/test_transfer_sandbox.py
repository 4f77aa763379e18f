"""Transfers to a supervisor, against the real sandbox Asterisk, asked from the console.

A real dial session calls the debtor and puts them through to agent1 (its
screen pop); the agent asks for the transfer on the desktop (``POST
/agent/transfer`` of the console app, logged in as that agent) and the call
desk that ``cadencia desk`` serves carries it out. The sandbox plays the
phones: the debtor, the agents and the supervisor (``agent9``, member
``supervisor1`` of ``cadencia-supervisors``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from redis import Redis

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.agents.events import agent_call
from campaigns.calls.service import run_desk
from campaigns.dialing import run_dial_session
from campaigns.ledger.chain import EVENTS
from campaigns.settings import AmiSettings, DeskSettings
from sandbox.asterisk import CONSOLE_USER, SandboxState, cli_command
from tests.support.asterisk import reset_agents, run, until
from tests.support.console_login import PASSWORD, log_in
from tests.support.dialworld import ledger, sandbox_settings
from tests.support.ownerworld import make_mx_world, plan_slot

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
SUPERVISORS = "cadencia-supervisors"


def test_a_call_transferred_from_the_desktop_pops_the_same_customer_on_the_supervisors(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=1, total=2)  # agent1 takes the call
    cli_command(asterisk_sandbox, "devstate change Custom:agent9 NOT_INUSE")
    cli_command(asterisk_sandbox, f"queue unpause member Local/agent9@agents/n queue {SUPERVISORS}")
    world = make_mx_world(tmp_path, 1)
    # The agent talks long enough to ask for the transfer on a loaded machine.
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=12.0)
    namespace = settings.agent_namespace
    create_user(world.engine, "ana", PASSWORD, "agent", now=dt.datetime.now(dt.UTC),
                agent_id="agent1", queue_interface="Local/agent1@agents/n")  # fmt: skip
    ami = AmiSettings(
        asterisk_sandbox.host, asterisk_sandbox.port, CONSOLE_USER, asterisk_sandbox.console_secret
    )
    console = create_web_app(
        world.engine,
        redis_url=dial_redis_url,
        ami=ami,
        namespace=namespace,
        secure_cookies=False,
        transfer_queues=(SUPERVISORS,),
    )
    redis = Redis.from_url(dial_redis_url)
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)

    def talking(agent: str) -> bool:
        call = agent_call(redis, agent, namespace=namespace)
        return call.state == "talking" and call.customer_id == "D0"

    async def scenario(client: TestClient, csrf: str) -> tuple[int | None, int | None, str]:
        stop = asyncio.Event()
        desk = asyncio.create_task(run_desk(DeskSettings(settings, "cadencia-inbound", "MX"), stop))
        session = asyncio.create_task(
            run_dial_session(settings, slot, session_options={"tick_s": 0.2})
        )
        await until(lambda: talking("agent1"), 30)
        first = agent_call(redis, "agent1", namespace=namespace).attempt_id
        page = await asyncio.to_thread(client.get, "/agent")
        asked = await asyncio.to_thread(
            client.post,
            "/agent/transfer",
            data={"queue": SUPERVISORS, "csrf": csrf},
            follow_redirects=True,
        )
        assert asked.status_code == 200 and SUPERVISORS in asked.text
        await until(lambda: talking("supervisor1"), 20)
        popped = agent_call(redis, "supervisor1", namespace=namespace).attempt_id
        await until(
            lambda: agent_call(redis, "supervisor1", namespace=namespace).state == "wrap", 45
        )
        await session
        stop.set()
        await desk
        return first, popped, page.text

    try:
        with TestClient(console) as client:
            csrf = log_in(client, "ana", "/agent")
            refused = client.post("/agent/transfer", data={"queue": SUPERVISORS, "csrf": csrf})
            assert refused.status_code == 409  # no call yet
            first, popped, page = run(scenario(client, csrf), limit=150)
    finally:
        redis.close()
        reset_agents(asterisk_sandbox, ready=2)
    assert 'id="transfer"' in page  # the desktop offers the transfer while talking
    assert first is not None and popped == first
    attempts, outcomes = ledger(world)
    attempt = attempts[f"plan:{world.planned['D0@0']}"]
    assert attempt.id == first
    assert (outcomes[attempt.id].outcome, outcomes[attempt.id].agent) == ("conversation", "agent1")
    with world.engine.connect() as conn:
        legs = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "transfer")).all()
    assert len(legs) == 1
    leg = legs[0]
    assert (leg.customer_id, leg.agent, leg.direction) == ("D0", "supervisor1", "outbound")
    extra = json.loads(leg.extra)
    assert (extra["attempt"], extra["from_agent"], extra["mode"]) == (first, "agent1", "blind")


def test_an_attended_transfer_consults_the_supervisor_then_hands_the_customer_over(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    """Consult first: the customer waits on hold while the supervisor (popped with the
    same customer) answers the agent; Complete hands the customer over (AMI Atxfer, then
    the agent's leg hung up, which is how Asterisk completes an attended transfer)."""
    reset_agents(asterisk_sandbox, ready=1, total=2)
    cli_command(asterisk_sandbox, "devstate change Custom:agent9 NOT_INUSE")
    cli_command(asterisk_sandbox, f"queue unpause member Local/agent9@agents/n queue {SUPERVISORS}")
    world = make_mx_world(tmp_path, 1)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=25.0)
    namespace = settings.agent_namespace
    create_user(world.engine, "ana", PASSWORD, "agent", now=dt.datetime.now(dt.UTC),
                agent_id="agent1", queue_interface="Local/agent1@agents/n")  # fmt: skip
    ami = AmiSettings(
        asterisk_sandbox.host, asterisk_sandbox.port, CONSOLE_USER, asterisk_sandbox.console_secret
    )
    console = create_web_app(world.engine, redis_url=dial_redis_url, ami=ami, namespace=namespace,
                             secure_cookies=False, transfer_queues=(SUPERVISORS,))  # fmt: skip
    redis = Redis.from_url(dial_redis_url)
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)

    def talking(agent: str) -> bool:
        call = agent_call(redis, agent, namespace=namespace)
        return call.state == "talking" and call.customer_id == "D0"

    async def scenario(client: TestClient, csrf: str) -> tuple[str, str]:
        stop = asyncio.Event()
        desk = asyncio.create_task(run_desk(DeskSettings(settings, "cadencia-inbound", "MX"), stop))
        session = asyncio.create_task(
            run_dial_session(settings, slot, session_options={"tick_s": 0.2})
        )
        await until(lambda: talking("agent1"), 30)
        asked = await asyncio.to_thread(
            client.post,
            "/agent/transfer",
            data={"queue": SUPERVISORS, "mode": "attended", "csrf": csrf},
            follow_redirects=True,
        )
        assert asked.status_code == 200, asked.text
        await until(lambda: talking("supervisor1"), 20)  # popped while consulting
        consulting = (await asyncio.to_thread(client.get, "/agent")).text
        done = await asyncio.to_thread(
            client.post,
            "/agent/transfer/finish",
            data={"action": "complete", "csrf": csrf},
            follow_redirects=True,
        )
        await until(
            lambda: agent_call(redis, "supervisor1", namespace=namespace).state == "wrap", 45
        )
        await session
        stop.set()
        await desk
        return consulting, done.text

    try:
        with TestClient(console) as client:
            csrf = log_in(client, "ana", "/agent")
            consulting, done = run(scenario(client, csrf), limit=150)
    finally:
        redis.close()
        reset_agents(asterisk_sandbox, ready=2)
    assert 'id="consult-complete"' in consulting and 'id="consult-cancel"' in consulting
    assert "Transfer to cadencia-supervisors completed" in done
    with world.engine.connect() as conn:
        legs = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "transfer")).all()
    assert len(legs) == 1
    extra = json.loads(legs[0].extra)
    assert (legs[0].agent, extra["from_agent"], extra["mode"]) == (
        "supervisor1",
        "agent1",
        "attended",
    )
