"""Fault: Asterisk dies (SIGKILL, as in a crash; or a clean stop, which hangs its
calls up) in the middle of a dial session with calls up, and is started again
a few seconds later on the same AMI port.

The restarted Asterisk knows nothing of the old calls. Invariant: the session
(whose AMI client reconnects with back-off) dials nobody twice, as Asterisk
itself saw it; a call that was ringing when Asterisk died is left visibly
pending (never redialed, never invented as answered; a clean stop may settle
it unanswered from Asterisk's own hang-up); a call already talking to an agent
may be settled as a conversation only because its AgentConnect was really
seen; a call refused while Asterisk shuts down was never placed and waits for
it; after the restart the session dials everyone else; and the ledger passes
every check of ``tests.faults.invariants``.

The test runs its own Asterisk instance (the session-wide one is shared by
other tests and must not be killed).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns.dialing import run_dial_session
from dialer.session import call_id_for
from sandbox import asterisk as sandbox
from tests.faults.invariants import check_ledger
from tests.support.asterisk import Observer, reset_agents, run, running_sandbox, until
from tests.support.dialworld import fill, ledger, make_world, sandbox_settings

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
CALLS = 6
DOWN_S = 3.0  # Asterisk stays dead this long: the dialer's reconnections are refused
FAST = {"tick_s": 0.2, "drain_s": 30.0}


@pytest.fixture(scope="module")
def restartable_asterisk() -> Iterator[str]:
    """The name of a sandbox Asterisk of this module's own, which its tests kill."""
    with running_sandbox(f"pytest-{os.getpid()}-restart") as state:
        yield state.name


def entered_queue(state: sandbox.SandboxState, prefix: str) -> collections.Counter[str]:
    """How many times each of the dialer's calls entered the queue, by queue_log."""
    rows = [line.split("|") for line in state.queue_log.read_text().splitlines()]
    return collections.Counter(
        r[1] for r in rows if len(r) > 4 and r[4] == "ENTERQUEUE" and r[1].startswith(f"{prefix}-a")
    )


@pytest.mark.parametrize("how", ["crash", "stop"])
@pytest.mark.parametrize("phase", ["ringing", "talking"])
def test_asterisk_restarted_mid_session_dials_nobody_twice(
    restartable_asterisk: str, dial_redis_url: str, tmp_path: Path, phase: str, how: str
) -> None:
    state = sandbox.status(restartable_asterisk)
    assert state is not None, "the test's Asterisk is not running"
    reset_agents(state, ready=2)
    world = make_world(tmp_path, ["5550001"] * CALLS)
    fill(world, dial_redis_url)
    # ringing: the debtor's phone rings 2.5 s (the Originate gives up after 3 s);
    # talking: each conversation lasts 6 s, long enough to be cut in the middle.
    ring_s, talk_s = (2.5, 1.0) if phase == "ringing" else (0.5, 6.0)
    settings = sandbox_settings(world, state, dial_redis_url, ring_s=ring_s, talk_s=talk_s)

    async def scenario() -> tuple[Any, Observer, set[str], set[str]]:
        observer = Observer(state)
        async with observer.client:
            session = asyncio.create_task(
                run_dial_session(settings, world.slot, session_options=FAST)
            )
            if phase == "ringing":
                await until(lambda: len(observer.channels_per_call(world.prefix)) >= 2)
            else:
                await until(lambda: len(observer.named("AgentConnect")) >= 2)
            up = set(observer.channels_per_call(world.prefix))
            talking = {e.get("Uniqueid") or "" for e in observer.named("AgentConnect")}
            dead = await asyncio.to_thread(sandbox.kill, state.name, crash=how == "crash")
            await asyncio.sleep(DOWN_S)
            revived = await asyncio.to_thread(sandbox.revive, dead)
            assert (revived.port, revived.secret) == (dead.port, dead.secret)
            await until(lambda: observer.client.connected, timeout=15)
            # The agents' phones come back (in the sandbox their device state
            # is simulated: a crash leaves astdb saying they were on calls).
            await asyncio.to_thread(reset_agents, revived, 2)
            report = await session
        return report, observer, up, talking

    report, observer, up, talking = run(scenario(), limit=240.0)
    attempts, outcomes = ledger(world)
    found = {o.resolves_id: (o.outcome, o.extra) for o in outcomes.values()}
    assert report.reconnections >= 1, (report.as_dict(), found)
    assert up, "the crash landed before any call was placed"

    # Asterisk created each call once, by its two records that span both of
    # its lives: the observer's Newchannel events (it may reconnect a moment
    # after the dialer does) and queue_log, the file every queued call is in.
    per_call = observer.channels_per_call(world.prefix)
    assert max(per_call.values()) == 1, f"a debtor was dialed twice: {per_call}"
    queued = entered_queue(state, world.prefix)
    assert max(queued.values()) == 1, f"a debtor was queued twice: {queued}"
    assert len(attempts) == CALLS, json.dumps(report.as_dict())
    call_ids = {call_id_for(a.id, world.prefix): a.id for a in attempts.values()}
    assert set(per_call) | set(queued) == set(call_ids), json.dumps(report.as_dict())

    # The calls up when Asterisk went down: never redialed, never invented.
    for call_id in up:
        attempt_id = call_ids[call_id]
        outcome = outcomes.get(attempt_id)
        if outcome is None:
            assert attempt_id in report.left_pending
        elif call_id in talking:  # its AgentConnect was seen: a real conversation
            assert outcome.outcome == "conversation"
            if how == "crash":  # nobody saw it end
                assert "reconciled" in json.loads(outcome.extra), outcome.extra
        else:  # ringing: only Asterisk's own hang-up (a clean stop) may settle it, unanswered
            assert how == "stop", f"{call_id} was ringing at the crash and got {outcome.outcome}"
            assert outcome.outcome in ("failed", "no_answer"), outcome.outcome
    if phase == "ringing":
        assert not (up & talking)
    if phase == "ringing" and how == "crash":
        assert {call_ids[c] for c in up} <= set(report.left_pending)

    # After the restart the session went on: everyone else was called and talked.
    after = set(call_ids) - up
    assert len(after) == CALLS - len(up) > 0
    assert {outcomes[call_ids[c]].outcome for c in after} == {"conversation"}
    assert report.dials == CALLS and report.leads_left == 0

    check_ledger(world.engine, visibly_pending=report.left_pending)
    world.engine.dispose()
