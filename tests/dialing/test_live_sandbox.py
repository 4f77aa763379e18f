"""The dial session writes its calls now for the wallboard, against the real sandbox Asterisk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from campaigns.calls.live import LIVE_TTL_S, read_live
from campaigns.dialing import run_dial_session
from sandbox.asterisk import SandboxState
from tests.support.asterisk import reset_agents, run
from tests.support.dialworld import fill, make_world, sandbox_settings

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
FAST = {"tick_s": 0.2, "drain_s": 30.0}


def test_the_wallboard_reads_the_calls_ringing_while_the_session_dials(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    # 5550003 rings out unanswered: a call the wallboard must show as ringing.
    world = make_world(tmp_path, ["5550003", "5550003", "5550001"])
    fill(world, dial_redis_url)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url)
    redis = Redis.from_url(dial_redis_url)
    seen: list[Any] = []

    async def watch(session: asyncio.Task[Any]) -> None:
        while not session.done():
            seen.extend(read_live(redis, settings.agent_namespace, "dial", [world.campaign.name]))
            await asyncio.sleep(0.2)

    async def scenario() -> Any:
        session = asyncio.create_task(run_dial_session(settings, world.slot, session_options=FAST))
        await watch(session)
        return await session

    report = run(scenario())
    assert report.dials == 3
    assert seen, "the session never wrote its live figures"
    assert max(s.ringing for s in seen) >= 1
    assert min(s.leads_left for s in seen if s.leads_left is not None) == 0
    # A session that ended drops off the wallboard by itself.
    ttl = redis.ttl(f"{settings.agent_namespace}:live:dial:{world.campaign.name}")
    assert ttl == -2 or 0 < ttl <= LIVE_TTL_S
    redis.close()
