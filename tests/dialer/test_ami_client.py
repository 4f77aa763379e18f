"""The AMI client against the real sandbox Asterisk 22.

Calls go to the sandbox's simulated phone network (``Local/<number>@pstn``,
see docker/asterisk/test/extensions.conf) and, when answered, to the
``cadencia-test`` queue whose agents are Local channels. Broken connections
are made with a real TCP proxy (tests.support.asterisk.TcpProxy) between the
client and Asterisk; a second, direct client watches what Asterisk really did.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from dialer.ami import (
    AmiActionError,
    AmiAuthError,
    AmiClient,
    AmiEvent,
    AmiNotConnected,
    ConnectionChange,
    OriginateOutcomeUnknown,
    OriginateReason,
    typed_event,
)
from dialer.ami.events import AgentConnect, OriginateResponse, QueueStatusMember
from sandbox.asterisk import ADMIN_USER, CONSOLE_USER, SandboxState
from tests.support.asterisk import TcpProxy, reset_agents

pytestmark = pytest.mark.asterisk
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], limit: float = 60.0) -> T:
    """Run one test's coroutine with an overall limit (a hang is a failure)."""
    return asyncio.run(asyncio.wait_for(coro, limit))


class Seen:
    """Collects what a client's handlers receive, in order."""

    def __init__(self, client: AmiClient) -> None:
        self.events: list[AmiEvent] = []
        self.changes: list[ConnectionChange] = []
        client.add_event_handler(self._event)
        client.add_connection_handler(self._change)

    async def _event(self, event: AmiEvent) -> None:
        self.events.append(event)

    async def _change(self, change: ConnectionChange) -> None:
        self.changes.append(change)

    def named(self, name: str, uniqueid: str | None = None) -> list[AmiEvent]:
        return [
            e
            for e in self.events
            if e.name == name and (uniqueid is None or e.get("Uniqueid") == uniqueid)
        ]


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``predicate()`` holds; fail the test after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def client_for(state: SandboxState, port: int | None = None, **options: Any) -> AmiClient:
    return AmiClient(state.host, port or state.port, state.username, state.secret, **options)


def pstn_call(number: str, **variables: str) -> dict[str, Any]:
    """Originate arguments for a call through the simulated phone network."""
    call_id = f"t-{uuid.uuid4().hex[:12]}"
    return {
        "channel": f"Local/{number}@pstn",
        "channel_id": call_id,
        "other_channel_id": f"{call_id}-far",
        "context": "cadencia-outbound",
        "exten": "s",
        "caller_id": '"Cobranza Muñoz" <6015550100>',
        "variables": {"CADENCIA_QUEUE": "cadencia-test", "CADENCIA_ATTEMPT": call_id, **variables},
    }


def test_login_ping_command_and_event_list(asterisk_sandbox: SandboxState) -> None:
    reset_agents(asterisk_sandbox, ready=1)

    async def scenario() -> None:
        ami = client_for(asterisk_sandbox)
        seen = Seen(ami)
        async with ami:
            assert ami.connected and ami.generation == 1
            await ami.ping()
            # The CLI is a shell on the PBX host: the dialer's user may not run it.
            with pytest.raises(AmiActionError, match="Permission denied"):
                await ami.command("core show version")
            async with AmiClient(
                asterisk_sandbox.host,
                asterisk_sandbox.port,
                ADMIN_USER,
                asterisk_sandbox.admin_secret,
            ) as admin:
                output = await admin.command("core show version")
            assert output[0].startswith("Asterisk 22.")
            status = await ami.queue_status("cadencia-test")
            members = [typed_event(e) for e in status.events if e.name == "QueueMember"]
            states = {
                m.member_name: m.device_state for m in members if isinstance(m, QueueStatusMember)
            }
            assert states["agent1"] is not None and states["agent1"].name == "NOT_INUSE"
            assert states["agent2"] is not None and states["agent2"].name == "UNAVAILABLE"
            assert status.events[0].name == "QueueParams"
            # list items answer the action; they are not broadcast to handlers
            await ami.ping()
            assert not seen.named("QueueMember")
            with pytest.raises(AmiActionError, match="QueueAdd"):
                await ami.send_action("QueueAdd", [("Queue", "no-such-queue")])

    run(scenario())


def test_wrong_secret_is_refused(asterisk_sandbox: SandboxState) -> None:
    async def scenario() -> None:
        ami = AmiClient(asterisk_sandbox.host, asterisk_sandbox.port, "cadencia", "wrong")
        with pytest.raises(AmiAuthError, match="refused"):
            await ami.connect()
        with pytest.raises(AmiNotConnected):
            await ami.ping()

    run(scenario())


@pytest.mark.slow
def test_answered_call_reaches_an_agent(asterisk_sandbox: SandboxState) -> None:
    reset_agents(asterisk_sandbox, ready=2)

    async def scenario() -> None:
        ami = client_for(asterisk_sandbox)
        seen = Seen(ami)
        async with ami:
            call = pstn_call("5550001", PSTN_RING="1", __AGENT_TALK="1")
            queued = await ami.originate(**call)
            cid = call["channel_id"]
            await until(lambda: bool(seen.named("AgentComplete", cid)))
            (response,) = [
                t
                for t in map(typed_event, seen.named("OriginateResponse"))
                if isinstance(t, OriginateResponse) and t.action_id == queued.action_id
            ]
            assert response.success and response.reason == OriginateReason.ANSWERED
            (connect,) = [typed_event(e) for e in seen.named("AgentConnect", cid)]
            assert isinstance(connect, AgentConnect) and connect.queue == "cadencia-test"
            # arrival order: the call exists, is answered, then meets the agent
            names = [e.name for e in seen.events if e.get("Uniqueid") == cid]
            assert names.index("Newchannel") < names.index("AgentConnect")
            assert names.index("AgentConnect") < names.index("AgentComplete")
            # the ChannelId we chose names the call from its very first event
            assert (seen.named("Newchannel", cid)[0].get("Channel") or "").startswith(
                "Local/5550001"
            )

    run(scenario())


@pytest.mark.slow
def test_busy_and_no_answer_are_reported(asterisk_sandbox: SandboxState) -> None:
    async def scenario() -> None:
        ami = client_for(asterisk_sandbox)
        seen = Seen(ami)
        async with ami:
            busy = await ami.originate(**pstn_call("5550002"))
            silent = await ami.originate(**pstn_call("5550003"), ring_timeout=2.0)
            assert busy.action_id is not None and silent.action_id is not None
            ids = {busy.action_id, silent.action_id}
            await until(lambda: {e.action_id for e in seen.named("OriginateResponse")} >= ids)
            outcome = {
                t.action_id: (t.success, t.reason)
                for t in map(typed_event, seen.named("OriginateResponse"))
                if isinstance(t, OriginateResponse)
            }
            assert outcome[busy.action_id] == (False, OriginateReason.BUSY)
            assert outcome[silent.action_id] == (False, OriginateReason.RINGING)

    run(scenario())


@pytest.mark.slow
def test_a_second_originate_with_the_same_channel_id_places_no_call(
    asterisk_sandbox: SandboxState,
) -> None:
    async def scenario() -> None:
        ami = client_for(asterisk_sandbox)
        seen = Seen(ami)
        async with ami:
            call = pstn_call("5550003")  # rings until the 3 s timeout
            cid = call["channel_id"]
            first = await ami.originate(**call, ring_timeout=3.0)
            await until(lambda: bool(seen.named("Newchannel", cid)))
            second = await ami.originate(**call, ring_timeout=3.0)
            await until(lambda: len(seen.named("OriginateResponse")) == 2)
            outcome = {
                t.action_id: (t.success, t.reason)
                for t in map(typed_event, seen.named("OriginateResponse"))
                if isinstance(t, OriginateResponse)
            }
            assert outcome[second.action_id or ""] == (False, OriginateReason.FAILED)
            assert outcome[first.action_id or ""] == (False, OriginateReason.RINGING)
            assert len(seen.named("Newchannel", cid)) == 1

    run(scenario())


@pytest.mark.slow
def test_killed_connection_never_resends_the_originate(asterisk_sandbox: SandboxState) -> None:
    reset_agents(asterisk_sandbox, ready=2)

    async def scenario() -> None:
        proxy = TcpProxy(asterisk_sandbox.host, asterisk_sandbox.port)
        port = await proxy.start()
        observer = client_for(asterisk_sandbox)
        watched = Seen(observer)
        ami = client_for(asterisk_sandbox, port, backoff_initial=0.05, backoff_max=0.2)
        seen = Seen(ami)
        async with observer, ami:
            call = pstn_call("5550001", PSTN_RING="1", __AGENT_TALK="1")
            cid = call["channel_id"]
            # The Originate reaches Asterisk; the TCP connection dies before the answer.
            proxy.drop_after(b"Action: Originate")
            with pytest.raises(OriginateOutcomeUnknown) as lost:
                await ami.originate(**call)
            assert lost.value.channel_id == cid
            await ami.wait_connected(10.0)
            assert ami.generation == 2 and proxy.accepted == 2
            # reconcile: the call is up, under the ChannelId chosen before sending
            await until(lambda: bool(watched.named("Newchannel", cid)))
            channels = await ami.active_channels()
            assert (channels[cid].get("Channel") or "").startswith("Local/5550001@pstn")
            # Asterisk placed the call exactly once and it ran to its end.
            await until(lambda: bool(watched.named("Hangup", cid)))
            await ami.ping()  # the new connection works
            assert len(watched.named("Newchannel", cid)) == 1
            assert len(watched.named("AgentConnect", cid)) == 1
            # and nothing on the new connection belongs to a second copy of it
            assert not seen.named("Newchannel", cid)[1:]
            assert [c.connected for c in seen.changes] == [True, False, True]
        await proxy.stop()

    run(scenario())


def test_a_cut_connection_is_reestablished_and_reported(asterisk_sandbox: SandboxState) -> None:
    async def scenario() -> None:
        proxy = TcpProxy(asterisk_sandbox.host, asterisk_sandbox.port)
        port = await proxy.start()
        ami = client_for(asterisk_sandbox, port, backoff_initial=0.05)
        seen = Seen(ami)
        async with ami:
            proxy.kill_all()
            await until(lambda: len(seen.changes) >= 3)
            assert [(c.connected, c.generation) for c in seen.changes] == [
                (True, 1),
                (False, 1),
                (True, 2),
            ]
            assert (
                "closed by Asterisk" in seen.changes[1].reason or "read" in seen.changes[1].reason
            )
            await ami.ping()
        await proxy.stop()

    run(scenario())


def test_half_open_socket_is_detected_by_the_ping_watchdog(asterisk_sandbox: SandboxState) -> None:
    async def scenario() -> None:
        proxy = TcpProxy(asterisk_sandbox.host, asterisk_sandbox.port)
        port = await proxy.start()
        options = {"ping_interval": 0.3, "ping_timeout": 0.5, "backoff_initial": 0.05}
        ami = client_for(asterisk_sandbox, port, **options)
        seen = Seen(ami)
        async with ami:
            proxy.freeze_all()  # nothing flows, nothing closes: only Ping can tell
            await until(lambda: any(not c.connected for c in seen.changes), timeout=10.0)
            assert "Ping" in next(c.reason for c in seen.changes if not c.connected)
            await ami.wait_connected(10.0)
            await ami.ping()
            assert ami.generation == 2
        await proxy.stop()

    run(scenario())


def test_handlers_run_in_order_and_a_slow_one_does_not_stall_pings(
    asterisk_sandbox: SandboxState,
) -> None:
    async def scenario() -> None:
        # The harness's own user: the dialer's may not send UserEvent (write "user").
        ami = AmiClient(
            asterisk_sandbox.host,
            asterisk_sandbox.port,
            ADMIN_USER,
            asterisk_sandbox.admin_secret,
            ping_interval=0.2,
            ping_timeout=1.0,
        )
        order: list[str] = []
        changes: list[ConnectionChange] = []

        async def slow_then_fail(event: AmiEvent) -> None:
            if event.name == "UserEvent":
                order.append(event.get("Step") or "")
                await asyncio.sleep(1.2)  # longer than ping_timeout
                raise RuntimeError("a faulty handler")

        async def on_change(change: ConnectionChange) -> None:
            changes.append(change)

        ami.add_event_handler(slow_then_fail)
        ami.add_connection_handler(on_change)
        async with ami:
            for step in range(4):
                await ami.send_action("UserEvent", [("UserEvent", "Probe"), ("Step", str(step))])
            await until(lambda: len(order) == 4, timeout=15.0)
            assert order == ["0", "1", "2", "3"]
            # ~4 s of handler time, pings every 0.2 s: the connection never dropped
            assert [c.connected for c in changes] == [True] and ami.generation == 1

    run(scenario())


def test_close_interrupts_the_reconnect_backoff(asterisk_sandbox: SandboxState) -> None:
    async def scenario() -> None:
        proxy = TcpProxy(asterisk_sandbox.host, asterisk_sandbox.port)
        port = await proxy.start()
        ami = client_for(asterisk_sandbox, port, backoff_initial=30.0, backoff_max=60.0)
        seen = Seen(ami)
        await ami.connect()
        await proxy.stop()  # Asterisk unreachable from now on
        await until(lambda: any(not c.connected for c in seen.changes), timeout=10.0)
        with pytest.raises(AmiNotConnected, match="not sent"):
            await ami.originate(**pstn_call("5550001"))
        # a 15-60 s back-off is under way; close() must not wait for it
        await asyncio.wait_for(ami.close(), 5.0)
        assert not ami.connected

    run(scenario())


def test_the_consoles_user_pauses_an_agent_and_can_place_no_call(
    asterisk_sandbox: SandboxState,
) -> None:
    """Least privilege: the console's AMI user (manager.conf's cadencia-console)."""
    reset_agents(asterisk_sandbox, ready=1)
    member = [("Queue", "cadencia-test"), ("Interface", "Local/agent1@agents/n")]

    async def scenario() -> None:
        async with AmiClient(
            asterisk_sandbox.host,
            asterisk_sandbox.port,
            CONSOLE_USER,
            asterisk_sandbox.console_secret,
        ) as console:
            await console.send_action("QueuePause", [*member, ("Paused", "true")])
            await console.send_action("QueuePause", [*member, ("Paused", "false")])
            with pytest.raises(AmiActionError, match="Permission denied"):
                await console.originate(**pstn_call("5550001"))
            with pytest.raises(AmiActionError, match="Permission denied"):
                await console.command("core show version")

    run(scenario())
