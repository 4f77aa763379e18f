"""A supervisor listens to an agent's call from the wallboard, against the real sandbox Asterisk.

A real dial session puts the debtor through to agent1; the supervisor,
logged in to the console, asks to listen (``POST /wallboard/supervise``);
the call desk that ``cadencia desk`` serves rings the supervisor's phone
(the sandbox's ``agent9``) into ChanSpy on agent1's channel. Asterisk's own
``ChanSpyStart`` event is the proof; the admin log keeps who listened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
from campaigns.settings import DeskSettings
from campaigns.storage.accounts import AdminAction
from sandbox.asterisk import SandboxState, cli_command
from tests.support.asterisk import Observer, reset_agents, run, until
from tests.support.console_login import PASSWORD, log_in
from tests.support.dialworld import sandbox_settings
from tests.support.ownerworld import make_mx_world, plan_slot

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
SUPERVISOR_PHONE = "Local/agent9@agents/n"


def test_a_supervisor_listens_to_an_agents_call_from_their_own_phone(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=1, total=2)  # agent1 takes the call
    cli_command(asterisk_sandbox, "devstate change Custom:agent9 NOT_INUSE")
    world = make_mx_world(tmp_path, 1)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=12.0)
    namespace = settings.agent_namespace
    create_user(world.engine, "sol", PASSWORD, "manager", now=dt.datetime.now(dt.UTC),
                queue_interface=SUPERVISOR_PHONE)  # fmt: skip
    console = create_web_app(
        world.engine, redis_url=dial_redis_url, namespace=namespace, secure_cookies=False
    )
    redis = Redis.from_url(dial_redis_url)
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)
    observer = Observer(asterisk_sandbox)

    def talking(agent: str) -> bool:
        return agent_call(redis, agent, namespace=namespace).state == "talking"

    def spied() -> list[str]:
        return [e.get("SpyeeChannel") or "" for e in observer.named("ChanSpyStart")]

    async def scenario(client: TestClient, csrf: str) -> tuple[int, str, list[str]]:
        async with observer.client:
            stop = asyncio.Event()
            desk = asyncio.create_task(
                run_desk(DeskSettings(settings, "cadencia-inbound", "MX"), stop)
            )
            session = asyncio.create_task(
                run_dial_session(settings, slot, session_options={"tick_s": 0.2})
            )
            await until(lambda: talking("agent1"), 30)
            asked = await asyncio.to_thread(
                client.post,
                "/wallboard/supervise",
                data={"agent": "agent1", "mode": "listen", "csrf": csrf},
                follow_redirects=True,
            )
            await until(lambda: bool(spied()), 20)
            await session
            stop.set()
            await desk
            return asked.status_code, asked.text, spied()

    try:
        with TestClient(console) as client:
            csrf = log_in(client, "sol", "/wallboard")
            idle = client.post(
                "/wallboard/supervise", data={"agent": "agent1", "mode": "listen", "csrf": csrf}
            )
            assert idle.status_code == 409  # no call yet: nothing to listen to
            status, page, channels = run(scenario(client, csrf), limit=120)
    finally:
        redis.close()
        reset_agents(asterisk_sandbox, ready=2)
    assert status == 200 and "Your phone rings" in page
    # ChanSpy ran on agent1's own channel of that call (never a prefix of another agent's).
    assert channels and all(c.startswith("Local/agent1@agents-") for c in channels)
    with world.engine.connect() as conn:
        logged = conn.execute(
            sa.select(AdminAction.actor, AdminAction.action, AdminAction.target).where(
                AdminAction.action.like("call_%")
            )
        ).all()
    assert [tuple(row) for row in logged] == [("sol", "call_listen", "agent1")]
