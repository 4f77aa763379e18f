"""One owner per customer, and callbacks dialed, against the real sandbox Asterisk.

Everything runs through the product: the dial-session job's body
(``run_dial_session``) with the Redis hopper, the ledger guard and sink, our
AMI client and the production dialplan with the test overlay's simulated
phone network and two agents in queue ``cadencia-test`` (strategy
``leastrecent``). The owner is whoever took the customer's first
conversation, as the session's outcome sink recorded it; callbacks are saved
with the desktop's own functions (``parse_form``, ``check_callback``,
``save_disposition``) from the agent's call as the session published it. A
direct AMI observer checks what Asterisk really did.

Why the owner's calls are not luck: after a conversation the agent who had
it is the most recent, so ``leastrecent`` alone would offer the customer's
next call to the other agent; the owner takes it anyway, time after time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis import Redis
from typer.testing import CliRunner

from cadencia.cli.app import app
from campaigns.agents.disposition import check_callback, parse_form, save_disposition
from campaigns.agents.events import agent_call
from campaigns.agents.owners import owner_of
from campaigns.dialing import DialSlot, run_dial_session
from campaigns.dialing.callbacks import list_callbacks
from campaigns.ledger.chain import verify
from campaigns.portfolio.view import customer_360
from campaigns.storage.models import Customer, CustomerOwner
from dialer.session import SessionReport, call_id_for
from sandbox.asterisk import SandboxState, cli_command
from tests.support.asterisk import Observer, reset_agents, run, until
from tests.support.dialworld import DialWorld, ledger, sandbox_settings, zone_at_local_hour
from tests.support.ownerworld import make_mx_world, plan_slot, real_time_slot

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
FAST = {"tick_s": 0.2, "drain_s": 30.0}
AGENTS = ("agent1", "agent2")


def _dial(
    world: DialWorld, sandbox: SandboxState, redis_url: str, slot: DialSlot
) -> tuple[SessionReport, Observer, float]:
    """One session under a fresh observer; also the real seconds until its first channel."""
    settings = sandbox_settings(world, sandbox, redis_url)

    async def scenario() -> tuple[SessionReport, Observer, float]:
        observer = Observer(sandbox)
        async with observer.client:
            started = time.monotonic()
            session = asyncio.create_task(run_dial_session(settings, slot, session_options=FAST))
            await until(lambda: bool(observer.channels_per_call(world.prefix)) or session.done())
            first_channel = time.monotonic() - started
            return await session, observer, first_channel

    return run(scenario())


def _conversation(world: DialWorld, key: str) -> tuple[Any, Any]:
    """The attempt row for guard key ``key`` and its outcome row."""
    attempts, outcomes = ledger(world)
    attempt = attempts[key]
    return attempt, outcomes[attempt.id]


def _owner_events(observer: Observer, call_id: str) -> list[str]:
    return [
        e.get("Owner") or ""
        for e in observer.named("UserEvent", call_id)
        if e.get("UserEvent") == "CadenciaOwner"
    ]


def test_an_owned_customer_goes_to_the_owner_and_to_another_agent_when_the_owner_is_paused(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    world = make_mx_world(tmp_path, 1)
    # The first conversation makes its agent the owner (the session's outcome sink).
    report, _, _ = _dial(
        world, asterisk_sandbox, dial_redis_url, plan_slot(world, 0, ["D0"], dial_redis_url)
    )
    assert report.outcomes == {"conversation": 1}
    _, first = _conversation(world, f"plan:{world.planned['D0@0']}")
    owner = first.agent
    other = next(a for a in AGENTS if a != owner)
    with world.engine.connect() as conn:
        stored = conn.execute(sa.select(CustomerOwner)).one()
    assert (stored.customer_id, stored.agent, stored.source) == ("D0", owner, "conversation")
    assert stored.attempt_id == first.resolves_id

    try:
        for slot in (1, 2, 3):  # both agents ready each time; leastrecent alone would alternate
            dial = plan_slot(world, slot, ["D0"], dial_redis_url)
            report, observer, _ = _dial(world, asterisk_sandbox, dial_redis_url, dial)
            attempt, outcome = _conversation(world, f"plan:{world.planned[f'D0@{slot}']}")
            call_id = call_id_for(attempt.id, world.prefix)
            assert outcome.outcome == "conversation" and outcome.agent == owner, slot
            assert _owner_events(observer, call_id) == [owner]
            (connect,) = observer.named("AgentConnect", call_id)
            assert connect.get("MemberName") == owner and connect.get("Queue") == "cadencia-test"
            assert report.held_for_owner == 0 and report.outcomes == {"conversation": 1}

        # The owner takes a break: the call waits (undialed) owner_wait_s, then goes to anyone.
        cli_command(
            asterisk_sandbox,
            f"queue pause member Local/{owner}@agents/n queue cadencia-test reason break",
        )
        dial = plan_slot(world, 4, ["D0"], dial_redis_url)
        report, observer, first_channel = _dial(world, asterisk_sandbox, dial_redis_url, dial)
        attempt, outcome = _conversation(world, f"plan:{world.planned['D0@4']}")
        call_id = call_id_for(attempt.id, world.prefix)
        assert report.held_for_owner == 1 and report.outcomes == {"conversation": 1}
        wait_s = world.campaign.dialer.owner_wait_s / dial.time_scale  # 10 s of the day: 2 s
        assert first_channel >= wait_s - 0.2
        assert outcome.agent == other
        assert _owner_events(observer, call_id) == []  # the dialplan saw the owner paused
        (connect,) = observer.named("AgentConnect", call_id)
        assert connect.get("MemberName") == other
        # the owner stays the owner
        assert owner_of(world.engine, "D0") == owner
    finally:
        reset_agents(asterisk_sandbox, ready=2)
    assert verify(world.engine).ok


def _callback_after_first_call(
    world: DialWorld, sandbox: SandboxState, redis_url: str, in_seconds: float
) -> tuple[str, int, dt.datetime]:
    """A first conversation, then its agent sets a callback at the desktop.

    Returns (the agent, the callback's id, its instant). The desktop's steps:
    the agent's call as the dial session published it, the form read in the
    customer's zone, the campaign's rules checked, the disposition saved.
    """
    report, _, _ = _dial(world, sandbox, redis_url, plan_slot(world, 0, ["D0"], redis_url))
    assert report.outcomes == {"conversation": 1}
    attempt, first = _conversation(world, f"plan:{world.planned['D0@0']}")
    agent = str(first.agent)
    redis = Redis.from_url(redis_url)
    try:
        call = agent_call(
            redis, agent, namespace=sandbox_settings(world, sandbox, redis_url).agent_namespace
        )
    finally:
        redis.close()
    assert (call.customer_id, call.attempt_id, call.run_id) == ("D0", attempt.id, world.run_id)
    now = dt.datetime.now(dt.UTC)
    view = customer_360(world.engine, "D0")
    zone = ZoneInfo(view["timezones"][0])
    local = (now + dt.timedelta(seconds=in_seconds)).astimezone(zone)
    raw = {
        "party": "right",
        "result": "callback",
        "callback_at": local.replace(tzinfo=None, microsecond=0).isoformat(),
    }
    form = parse_form(raw, view, now=now)
    decision = check_callback(world.engine, call, form.callback_at)  # type: ignore[arg-type]
    assert decision.allowed, decision
    save_disposition(world.engine, call, form, now=now, callback_decision=decision)
    (row,) = list_callbacks(world.engine)
    assert (row.agent, row.status, row.customer_id) == (agent, "scheduled", "D0")
    assert form.callback_at is not None
    return agent, row.id, form.callback_at


def test_a_callback_set_at_the_desktop_is_dialed_at_its_time_to_the_agent_who_set_it(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    world = make_mx_world(tmp_path, 1, packs=("mx-condusef", "house"))
    agent, callback_id, due = _callback_after_first_call(
        world, asterisk_sandbox, dial_redis_url, in_seconds=8
    )
    # The next session of the campaign whose slot holds the instant dials it.
    report, observer, _ = _dial(world, asterisk_sandbox, dial_redis_url, real_time_slot(world, 1))
    assert report.outcomes == {"conversation": 1} and report.refused == 0

    attempt, outcome = _conversation(world, f"callback:{callback_id}")
    assert attempt.at >= due  # not before its time (the guard's instant)
    assert attempt.status == "pending" and outcome.id > attempt.id  # pending before the call
    call_id = call_id_for(attempt.id, world.prefix)
    assert observer.channels_per_call(world.prefix) == {call_id: 1}  # the Originate it reserved
    assert outcome.outcome == "conversation" and outcome.agent == agent
    assert _owner_events(observer, call_id) == [agent]
    (connect,) = observer.named("AgentConnect", call_id)
    assert connect.get("MemberName") == agent
    (row,) = list_callbacks(world.engine, agent=agent)
    assert (row.status, row.attempt_id, row.reason) == ("done", attempt.id, None)
    assert verify(world.engine).ok


def test_a_callback_the_rules_forbid_at_its_time_is_refused_and_listed_with_the_rule(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    world = make_mx_world(tmp_path, 1)
    agent, callback_id, _ = _callback_after_first_call(
        world, asterisk_sandbox, dial_redis_url, in_seconds=5
    )
    # Allowed when the agent set it; then the customer's portfolio row moves
    # them to a zone where that instant is 3 in the morning.
    with world.engine.begin() as conn:
        conn.execute(sa.update(Customer).values(timezones=zone_at_local_hour(3)))
    report, observer, _ = _dial(world, asterisk_sandbox, dial_redis_url, real_time_slot(world, 1))
    assert report.refused == 1 and report.dials == 0
    assert observer.channels_per_call(world.prefix) == {}  # nothing was dialed
    attempts, _ = ledger(world)
    assert f"callback:{callback_id}" not in attempts

    (row,) = list_callbacks(world.engine, status="refused")
    assert row.id == callback_id and row.agent == agent
    assert row.reason is not None and "mx-horario" in row.reason
    result = CliRunner().invoke(
        app, ["--db", world.url, "callbacks", "list", "--status", "refused", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    (listed,) = json.loads(result.stdout)
    assert listed["id"] == callback_id and "mx-horario" in listed["reason"]
    assert listed["status"] == "refused"
