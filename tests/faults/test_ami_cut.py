"""Fault: the AMI TCP connection between a running dial session and Asterisk is cut
(every connection reset by a proxy in the middle) while two debtors talk to agents.

Invariant: the session's AMI client reconnects with back-off, the calls that
lived through the cut are followed to their end on the new connection,
Asterisk itself (watched by a direct AMI connection) never saw a debtor
dialed twice, every attempt is settled or visibly pending, and the ledger
passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from campaigns.dialing import run_dial_session
from campaigns.ledger.chain import verify
from dialer.session import call_id_for
from sandbox.asterisk import SandboxState
from tests.faults.invariants import check_ledger
from tests.support.asterisk import Observer, TcpProxy, reset_agents, run, until
from tests.support.dialworld import fill, ledger, make_world, sandbox_settings

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
FAST = {"tick_s": 0.2, "drain_s": 30.0}


def test_a_dropped_ami_connection_dials_nobody_twice(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    numbers = ["5550001"] * 6
    world = make_world(tmp_path, numbers)
    fill(world, dial_redis_url)

    async def scenario() -> Any:
        proxy = TcpProxy(asterisk_sandbox.host, asterisk_sandbox.port)
        port = await proxy.start()
        settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, port=port, talk_s=2.0)
        observer = Observer(asterisk_sandbox)
        async with observer.client:
            session = asyncio.create_task(
                run_dial_session(settings, world.slot, session_options=FAST)
            )
            # cut the cable while two debtors are talking to agents
            await until(lambda: len(observer.named("AgentConnect")) >= 2)
            proxy.kill_all()
            report = await session
        await proxy.stop()
        return report, observer, proxy.accepted

    report, observer, connections = run(scenario())
    assert connections >= 2 and report.reconnections >= 1
    per_call = observer.channels_per_call(world.prefix)
    assert max(per_call.values()) == 1, "a debtor was dialed twice"
    attempts, outcomes = ledger(world)
    assert len(attempts) == len(numbers)
    assert set(per_call) == {call_id_for(a.id, world.prefix) for a in attempts.values()}
    # calls that lived through the cut were followed to their end on the new connection
    settled = {a.id for a in attempts.values() if a.id in outcomes}
    assert settled | set(report.left_pending) == {a.id for a in attempts.values()}
    assert sum(o.outcome == "conversation" for o in outcomes.values()) >= 4
    assert verify(world.engine).ok
    check_ledger(world.engine, visibly_pending=report.left_pending)
    world.engine.dispose()
