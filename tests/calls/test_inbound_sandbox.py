"""Inbound calls to the company number, against the real sandbox Asterisk.

The product's parts run as in production: the dial-session job's body makes
the customer's first conversation (and so their owner); the inbound desk
(``campaigns.calls.desk.run_desk``, what ``cadencia desk`` serves)
listens on AMI; the production ``[cadencia-inbound]`` dialplan routes the
call. The test plays only the outside world: the debtor who calls the
company number (an Originate into ``cadencia-inbound`` with their caller ID)
and the sandbox's simulated agents, who answer and talk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis

from campaigns.agents.events import AgentCall, agent_call
from campaigns.agents.owners import owner_of
from campaigns.calls.service import run_desk
from campaigns.dialing import run_dial_session
from campaigns.dialing.job import abandon_history
from campaigns.run.report.inbound import InboundDay, inbound_days
from campaigns.settings import DeskSettings
from dialer.agents import AgentBoard, AgentStatus
from dialer.ami.events import QueueMember, typed_event
from dialer.ami.protocol import AmiEvent
from dialer.pacing import AgentState
from sandbox.asterisk import SandboxState, cli_command
from tests.support.asterisk import Observer, reset_agents, run, until
from tests.support.dialworld import DialWorld, ledger, sandbox_settings
from tests.support.ownerworld import make_mx_world, plan_slot

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
AGENTS = ("agent1", "agent2")
DEBTOR = "+525555550001"  # D0's phone in the owner world
COMPANY = "5550100"


def _ready_for_inbound(sandbox: SandboxState) -> None:
    reset_agents(sandbox, ready=2)
    for agent in AGENTS:
        cli_command(sandbox, f"queue unpause member Local/{agent}@agents/n queue cadencia-inbound")


async def _call_in(observer: Observer, caller: str, stay_s: int) -> str:
    """The debtor calls the company number and stays on ``stay_s`` s; returns the call's id."""
    call_id = f"in-{uuid.uuid4().hex[:10]}"
    await observer.client.originate(
        f"Local/{COMPANY}@cadencia-inbound",
        # Asterisk matches unique ids by prefix: the phone's id is the shorter one.
        channel_id=call_id,
        other_channel_id=f"{call_id}-in",
        application="Wait",
        data=str(stay_s),
        caller_id=f"Debtor <{caller}>",
        variables={"__AGENT_TALK": "2"},
    )
    return call_id


def _inbound_rows(world: DialWorld) -> list[tuple[str | None, str | None, str | None]]:
    """(customer, outcome, agent) of each inbound call in the ledger."""
    attempts, outcomes = ledger(world)
    return [
        (
            a.customer_id,
            outcomes[a.id].outcome if a.id in outcomes else None,
            outcomes[a.id].agent if a.id in outcomes else None,
        )
        for key, a in attempts.items()
        if key and key.startswith("inbound:")
    ]


def _inbound_days(world: DialWorld) -> list[InboundDay]:
    """The run report's inbound figures over the last and next day."""
    now = dt.datetime.now(dt.UTC)
    with world.engine.connect() as conn:
        return inbound_days(
            conn, now - dt.timedelta(days=1), now + dt.timedelta(days=1), zone="UTC"
        )


def test_a_debtor_who_calls_in_reaches_their_owner_with_the_screen_pop_and_the_ledger(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    _ready_for_inbound(asterisk_sandbox)
    world = make_mx_world(tmp_path, 1)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url)
    # The first conversation (an outbound call) makes its agent D0's owner.
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)
    report = run(run_dial_session(settings, slot, session_options={"tick_s": 0.2}))
    assert report.outcomes == {"conversation": 1}
    owner = owner_of(world.engine, "D0")
    assert owner in AGENTS
    redis = Redis.from_url(dial_redis_url)
    desk = DeskSettings(settings, "cadencia-inbound", "MX")

    def state(agent: str) -> AgentCall:
        return agent_call(redis, agent, namespace=settings.agent_namespace)

    async def scenario() -> list[tuple[str, str | None, str | None]]:
        stop = asyncio.Event()
        serving = asyncio.create_task(run_desk(desk, stop))
        observer = Observer(asterisk_sandbox)
        pops: list[tuple[str, str | None, str | None]] = []
        async with observer.client:
            await asyncio.sleep(0.5)  # the desk logged in
            # Three calls from D0: leastrecent alone would alternate agents.
            # Each call's pop is told by its new attempt id (a loaded machine
            # may deliver connect and complete within one poll).
            seen: set[int | None] = {None, state(owner).attempt_id}  # the outbound call
            for _ in range(3):
                await _call_in(observer, DEBTOR, 8)
                await until(lambda: state(owner).attempt_id not in seen, 40)
                call = state(owner)
                seen.add(call.attempt_id)
                pops.append((owner, call.customer_id, call.caller))
                await until(lambda: state(owner).state == "wrap", 40)
                await asyncio.sleep(0.5)
            # A number nobody in the portfolio has: the number, no customer.
            await _call_in(observer, "+525512340000", 8)
            await until(lambda: any(state(a).caller == "+525512340000" for a in AGENTS), 40)
            unknown = next(state(a) for a in AGENTS if state(a).caller == "+525512340000")
            pops.append((unknown.agent, unknown.customer_id, unknown.caller))
            await asyncio.sleep(3)
        stop.set()
        await serving
        return pops

    pops = run(scenario(), limit=120)
    redis.close()
    assert pops[:3] == [(owner, "D0", DEBTOR)] * 3
    assert pops[3][1] is None and pops[3][2] == "+525512340000"
    # D0's three calls are in the ledger as inbound conversations with the owner;
    # the unknown caller is nobody's contact.
    assert _inbound_rows(world) == [("D0", "conversation", owner)] * 3
    # The run report's inbound figures: three calls, all answered by the owner.
    assert [(d.calls, d.answered, d.by_owner, d.abandoned) for d in _inbound_days(world)] == [
        (3, 3, 3, 0)
    ]


def test_a_caller_who_hangs_up_waiting_is_an_inbound_abandon_not_an_outbound_one(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    _ready_for_inbound(asterisk_sandbox)
    for agent in AGENTS:  # everyone on a break
        cli_command(
            asterisk_sandbox,
            f"queue pause member Local/{agent}@agents/n queue cadencia-inbound reason break",
        )
    world = make_mx_world(tmp_path, 1)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url)
    desk = DeskSettings(settings, "cadencia-inbound", "MX")

    async def scenario() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(run_desk(desk, stop))
        observer = Observer(asterisk_sandbox)
        async with observer.client:
            await asyncio.sleep(0.5)
            await _call_in(observer, DEBTOR, 3)  # gives up after 3 s
            await until(lambda: bool(_inbound_rows(world)), 20)
        stop.set()
        await serving

    try:
        run(scenario(), limit=60)
    finally:
        _ready_for_inbound(asterisk_sandbox)
    assert _inbound_rows(world) == [("D0", "abandoned", None)]
    history = abandon_history(world.engine, world.campaign, dt.date.today(), 0)
    assert sum(day.abandoned for day in history.values()) == 0
    # ... and the run report counts it apart, as an inbound abandon.
    (day,) = _inbound_days(world)
    assert (day.calls, day.answered, day.abandoned, day.abandon_share) == (1, 0, 1, 1.0)


def test_an_agent_on_an_inbound_call_is_busy_on_the_outbound_pacers_board(
    asterisk_sandbox: SandboxState,
) -> None:
    """Blending: the dial session's agent board (what its pacer reads) sees agent1 talking
    on an inbound call, though nothing happened in the outbound queue, and agent2 ready."""
    _ready_for_inbound(asterisk_sandbox)
    # agent2 takes no inbound call: the inbound call can only reach agent1
    cli_command(asterisk_sandbox, "queue pause member Local/agent2@agents/n queue cadencia-inbound")
    board = AgentBoard("cadencia-test")

    async def scenario() -> tuple[list[str], list[AgentState]]:
        observer = Observer(asterisk_sandbox)

        async def feed(raw: AmiEvent) -> None:  # as the dial session feeds its board
            typed = typed_event(raw)
            if typed is not None:
                board.apply(typed, time.monotonic())

        observer.client.add_event_handler(feed)
        async with observer.client:
            status = await observer.client.queue_status("cadencia-test")
            members = [typed_event(e) for e in status.events]
            board.resync([m for m in members if isinstance(m, QueueMember)], time.monotonic())
            await _call_in(observer, DEBTOR, 12)
            await until(lambda: board.status("agent1", time.monotonic()) is AgentStatus.TALKING)
            seen = [board.status(a, time.monotonic()).value for a in AGENTS]
            states = [v.state for v in board.views(time.monotonic())]
        return seen, states

    try:
        seen, states = run(scenario(), limit=60)
    finally:
        _ready_for_inbound(asterisk_sandbox)
    assert seen == ["talking", "ready"]
    assert sorted(states) == sorted([AgentState.TALKING, AgentState.READY])
