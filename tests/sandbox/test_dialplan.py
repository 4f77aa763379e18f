"""The production dialplan plus the test overlay, exercised on the real Asterisk.

These check the configuration in docker/asterisk/: AMD's verdict reaches AMI
as a UserEvent, a live answer with no agent gets the safe-harbour message,
a caller who hangs up while queued is an abandon, and queue_log (the file the
abandon-rate figures are computed from) records each of these.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from dialer.ami import AmiClient, AmiEvent, OriginateReason, typed_event
from dialer.ami.events import AgentComplete, OriginateResponse, UserEvent
from sandbox.asterisk import SandboxState, cli_command
from tests.support.asterisk import reset_agents

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


async def call(
    state: SandboxState, number: str, until: str, limit: float = 30.0, **variables: str
) -> tuple[str, list[AmiEvent]]:
    """Originate one call through the simulated PSTN; collect events up to ``until``
    (an event name, or ``UserEvent:<name>``) for this call; returns (id, events)."""
    cid = f"d-{uuid.uuid4().hex[:12]}"
    got: list[AmiEvent] = []
    done = asyncio.Event()

    async def on_event(event: AmiEvent) -> None:
        if cid not in (event.get("Uniqueid") or "") and event.action_id != action_id:
            return
        got.append(event)
        label = event.name
        if event.name == "UserEvent":
            label = f"UserEvent:{event.get('UserEvent')}"
        if label == until:
            done.set()

    ami = AmiClient(state.host, state.port, state.username, state.secret)
    ami.add_event_handler(on_event)
    action_id = ""
    async with ami:
        response = await ami.originate(
            f"Local/{number}@pstn",
            channel_id=cid,
            other_channel_id=f"{cid}-far",
            context="cadencia-outbound",
            exten="s",
            ring_timeout=5.0,
            variables={"CADENCIA_QUEUE": "cadencia-test", "CADENCIA_ATTEMPT": cid, **variables},
        )
        action_id = response.action_id or ""
        await asyncio.wait_for(done.wait(), limit)
        await asyncio.sleep(0.3)  # let the call's trailing events arrive
    return cid, got


def user_events(events: list[AmiEvent]) -> dict[str, UserEvent]:
    typed = [typed_event(e) for e in events]
    return {t.user_event: t for t in typed if isinstance(t, UserEvent)}


def queue_log_lines(state: SandboxState, cid: str) -> list[list[str]]:
    path = Path(state.queue_log)
    return [line.split("|") for line in path.read_text().splitlines() if f"|{cid}|" in line]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60.0))


def test_machine_is_detected_and_not_queued(asterisk_sandbox: SandboxState) -> None:
    cid, events = run(call(asterisk_sandbox, "5550004", "Hangup", PSTN_RING="1"))
    amd = user_events(events)["CadenciaAmd"]
    assert amd.get("Status") == "MACHINE" and amd.get("Attempt") == cid
    assert "QueueCallerJoin" not in {e.name for e in events}


def test_no_agent_in_time_plays_the_safe_harbour_message(asterisk_sandbox: SandboxState) -> None:
    reset_agents(asterisk_sandbox, ready=0)
    cid, events = run(call(asterisk_sandbox, "5550001", "Hangup", PSTN_RING="1"))
    found = user_events(events)
    assert found["CadenciaAmd"].get("Status") == "HUMAN"
    assert found["CadenciaAbandon"].get("QueueStatus") == "TIMEOUT"
    assert [row[4] for row in queue_log_lines(asterisk_sandbox, cid)] == [
        "ENTERQUEUE",
        "EXITWITHTIMEOUT",
    ]
    messages = (Path(asterisk_sandbox.instance_dir) / "log" / "messages").read_text()
    assert "please-try-call-later" not in messages  # the prompt exists and played


def test_caller_hanging_up_in_the_queue_is_an_abandon(asterisk_sandbox: SandboxState) -> None:
    reset_agents(asterisk_sandbox, ready=0)
    cid, events = run(
        call(
            asterisk_sandbox,
            "5550006",
            "QueueCallerAbandon",
            PSTN_RING="1",
            PSTN_PATIENCE="3",
            CADENCIA_QUEUE_WAIT="20",
        )
    )
    assert "CadenciaAbandon" not in user_events(events)  # no message: nobody is left to hear it
    assert [row[4] for row in queue_log_lines(asterisk_sandbox, cid)] == ["ENTERQUEUE", "ABANDON"]


def test_agent_talk_time_is_set_by_the_caller(asterisk_sandbox: SandboxState) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    cid, events = run(
        call(asterisk_sandbox, "5550001", "AgentComplete", PSTN_RING="1", __AGENT_TALK="6")
    )
    (complete,) = [t for t in map(typed_event, events) if isinstance(t, AgentComplete)]
    # app_queue counts TalkTime in whole wall-clock seconds from the bridge, so a
    # Wait(6) reads 6, or 7 when it straddles a second boundary on a loaded box;
    # both lie outside the agents' own 2-5 s, so the caller's value did set it.
    assert complete.talk_time in (6, 7)
    kinds = [row[4] for row in queue_log_lines(asterisk_sandbox, cid)]
    assert kinds[0] == "ENTERQUEUE" and "CONNECT" in kinds and kinds[-1] == "COMPLETEAGENT"


@pytest.mark.parametrize(
    ("number", "variables", "reason"),
    [
        ("5550005", {}, OriginateReason.CONGESTION),
        # any other number draws its outcome: 100% busy here
        ("6015550199", {"PSTN_P_ANSWER": "0", "PSTN_P_MACHINE": "0", "PSTN_P_BUSY": "100"}, 5),
    ],
)
def test_unreachable_numbers(
    asterisk_sandbox: SandboxState, number: str, variables: dict[str, str], reason: int
) -> None:
    _, events = run(call(asterisk_sandbox, number, "OriginateResponse", 30.0, **variables))
    (response,) = [t for t in map(typed_event, events) if isinstance(t, OriginateResponse)]
    assert not response.success and response.reason == reason


def test_production_templates_load(asterisk_sandbox: SandboxState) -> None:
    # the sandbox's site/pjsip.conf instantiates the production trunk template
    endpoint = "\n".join(cli_command(asterisk_sandbox, "pjsip show endpoint carrier"))
    assert "cadencia-inbound" in endpoint and "(ulaw|alaw)" in endpoint
    user = "\n".join(cli_command(asterisk_sandbox, "manager show user cadencia"))
    assert "originate" in user and "deny - 0.0.0.0/0.0.0.0" in user
    queues = "\n".join(cli_command(asterisk_sandbox, "queue show cadencia-test"))
    assert "leastrecent" in queues and "Custom:agent1" in queues
