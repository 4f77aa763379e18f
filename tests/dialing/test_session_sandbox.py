"""The dial session against the real sandbox Asterisk, Redis and a migrated database.

Every call goes through the real pieces: the Redis hopper, the ledger guard
(pending attempt before the Originate), our AMI client, the production
dialplan with the test overlay's simulated phone network and agents, and the
ledger for outcomes. A second, direct AMI client watches what Asterisk really
did, so "nobody dialed twice" is checked against the PBX itself.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from campaigns.dialing import run_dial_session
from campaigns.ledger.chain import verify
from dialer.session import call_id_for
from sandbox.asterisk import SandboxState, cli_command
from tests.support.asterisk import Observer, reset_agents, run, until
from tests.support.dialworld import fill, ledger, make_world, sandbox_settings

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
FAST = {"tick_s": 0.2, "drain_s": 30.0}


def test_each_outcome_reaches_the_ledger(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    numbers = ["5550001", "5550002", "5550003", "5550004", "5550005", "5550001"]
    world = make_world(tmp_path, numbers)
    fill(world, dial_redis_url)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url)

    async def scenario() -> Any:
        observer = Observer(asterisk_sandbox)
        async with observer.client:
            report = await run_dial_session(settings, world.slot, session_options=FAST)
            return report, observer

    report, observer = run(scenario())
    assert report.dials == len(numbers) and not report.left_pending and report.refused == 0
    attempts, outcomes = ledger(world)
    got = {customer: outcomes[attempts[key].id] for customer, key in world.keys().items()}
    assert {c: o.outcome for c, o in got.items()} == {
        "D0": "conversation",
        "D1": "busy",
        "D2": "no_answer",
        "D3": "machine",
        "D4": "not_in_service",
        "D5": "conversation",
    }
    for customer in ("D0", "D5"):
        talk = got[customer]
        assert talk.agent in {"agent1", "agent2"}
        assert talk.duration_s is not None and 0 < talk.duration_s <= 3
    assert json.loads(got["D3"].extra)["amd"].startswith("LONGGREETING")
    # every call carried the ChannelId derived from its pending attempt, once
    per_call = observer.channels_per_call(world.prefix)
    assert set(per_call) == {call_id_for(a.id, world.prefix) for a in attempts.values()}
    assert max(per_call.values()) == 1
    # the pending row came first: each outcome points back at an older row
    pairs = zip(world.keys().values(), got.values(), strict=True)
    assert all(o.id > attempts[k].id for k, o in pairs)
    assert verify(world.engine).ok


def test_an_answer_with_no_agent_left_gets_the_safe_harbour_message(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=1)
    world = make_world(tmp_path, ["5550001"])
    fill(world, dial_redis_url)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, ring_s=1.0)

    async def scenario() -> Any:
        observer = Observer(asterisk_sandbox)
        async with observer.client:
            session = asyncio.create_task(
                run_dial_session(settings, world.slot, session_options=FAST)
            )
            # the dialer called for the one ready agent; while the debtor's
            # phone rings, that agent logs off
            await until(lambda: bool(observer.channels_per_call(world.prefix)))
            await asyncio.to_thread(
                cli_command, asterisk_sandbox, "devstate change Custom:agent1 UNAVAILABLE"
            )
            report = await session
            return report, observer

    report, observer = run(scenario())
    attempts, outcomes = ledger(world)
    (attempt,) = attempts.values()
    outcome = outcomes[attempt.id]
    assert outcome.outcome == "abandoned" and outcome.agent is None
    extra = json.loads(outcome.extra)
    assert extra["safe_harbour"] is True
    cid = call_id_for(attempt.id, world.prefix)
    (event,) = observer.named("UserEvent", cid)[-1:]
    assert event.get("UserEvent") == "CadenciaAbandon"
    (left,) = observer.named("QueueCallerAbandon", cid)
    assert int(left.get("HoldTime") or 99) <= 2  # Asterisk's own measure of the wait
    assert report.outcomes == {"abandoned": 1}
    reset_agents(asterisk_sandbox, ready=2)
