"""The ``asterisk_sandbox`` fixture: a real Asterisk 22 for the whole session.

It starts a private instance of the sandbox (``sandbox.asterisk``),
building the cached Debian root first if needed (minutes, once per machine),
and stops it at the end of the session. Each pytest process gets its own
instance name, so engineers and CI running at once do not share an Asterisk.
``TcpProxy`` puts a breakable TCP hop in front of its AMI port, for tests of
dropped and half-open connections. Without root, or when the root cannot be
built, the tests that need it are skipped naming the component (failed under
CADENCIA_REQUIRE_ALL=1).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from dialer.ami import AmiClient, AmiEvent
from sandbox import asterisk as sandbox
from tests.support.components import component_missing

T = TypeVar("T")

COMPONENT = "Asterisk 22 sandbox"


@contextlib.contextmanager
def running_sandbox(name: str) -> Iterator[sandbox.SandboxState]:
    """A sandbox instance ``name`` for the duration of the block, removed afterwards.

    Skips (fails under CADENCIA_REQUIRE_ALL=1) naming the component when it
    cannot run here.
    """
    missing = sandbox.prerequisites_missing()
    if missing:
        component_missing(COMPONENT, missing)
    try:
        state = sandbox.start(name, timeout=90.0)
    except sandbox.SandboxError as exc:
        component_missing(COMPONENT, str(exc))
    try:
        yield state
    finally:
        sandbox.stop(name, keep_files=False)


@pytest.fixture(scope="session")
def asterisk_sandbox() -> Iterator[sandbox.SandboxState]:
    """A running sandbox Asterisk: ``.host``, ``.port``, ``.username``,
    ``.secret`` (AMI), ``.root`` (the Debian root) and ``.queue_log``."""
    with running_sandbox(f"pytest-{os.getpid()}") as state:
        yield state


def reset_agents(state: sandbox.SandboxState, ready: int = 2, total: int = 2) -> None:
    """Agents 1..ready ready (NOT_INUSE, unpaused), the rest UNAVAILABLE.

    The session shares one Asterisk, so each test sets the agents it needs.
    """
    for n in range(1, total + 1):
        value = "NOT_INUSE" if n <= ready else "UNAVAILABLE"
        sandbox.cli_command(state, f"devstate change Custom:agent{n} {value}")
        sandbox.cli_command(
            state, f"queue unpause member Local/agent{n}@agents/n queue cadencia-test"
        )


def member_pause(
    state: sandbox.SandboxState, member: str, queue: str = "cadencia-test"
) -> str | None:
    """The member's pause reason in ``queue`` ("" paused without one), None if not paused."""
    for line in sandbox.cli_command(state, f"queue show {queue}"):
        if line.strip().startswith(f"{member} "):
            found = re.search(r"\(paused(?::([^)]*?))?(?: was \d+ secs? ago)?\)", line)
            return None if found is None else (found.group(1) or "").strip()
    raise AssertionError(f"{member} is not a member of {queue}")


def run(coro: Coroutine[Any, Any, T], limit: float = 120.0) -> T:
    """Run a scenario coroutine to its end, failing it after ``limit`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, limit))


async def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait (polling) until ``predicate()`` holds; TimeoutError after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


class Observer:
    """A direct AMI connection that records every event Asterisk sends.

    It is how a test checks what the PBX really did ("nobody dialed twice"),
    independently of the dialer's own bookkeeping. Its client reconnects by
    itself, so it keeps recording across a restart of Asterisk.
    """

    def __init__(self, state: sandbox.SandboxState) -> None:
        self.client = AmiClient(
            state.host, state.port, state.username, state.secret, backoff_max=1.0
        )
        self.events: list[AmiEvent] = []

        async def keep(event: AmiEvent) -> None:
            self.events.append(event)

        self.client.add_event_handler(keep)

    def named(self, name: str, uniqueid: str | None = None) -> list[AmiEvent]:
        """Events called ``name`` (of channel ``uniqueid``), in arrival order."""
        return [
            e
            for e in self.events
            if e.name == name and (uniqueid is None or e.get("Uniqueid") == uniqueid)
        ]

    def channels_per_call(self, prefix: str) -> collections.Counter[str]:
        """How many channels Asterisk created under each of the dialer's ChannelIds."""
        return collections.Counter(
            e.get("Uniqueid") or ""
            for e in self.named("Newchannel")
            if (e.get("Uniqueid") or "").startswith(f"{prefix}-a")
            and not (e.get("Uniqueid") or "").endswith("-far")
        )


class ThreadObserver:
    """An AMI connection in a thread of its own, recording Newchannel events
    (for tests whose dialer runs in another process)."""

    def __init__(self, state: sandbox.SandboxState) -> None:
        self.state = state
        self.channels: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        client = AmiClient(self.state.host, self.state.port, self.state.username, self.state.secret)

        async def keep(event: AmiEvent) -> None:
            if event.name == "Newchannel":
                self.channels.append(event.get("Uniqueid") or "")

        client.add_event_handler(keep)
        async with client:
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)

    def __enter__(self) -> ThreadObserver:
        self._thread.start()
        assert self._ready.wait(15), "observer could not log in to AMI"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


class _Pair:
    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client, self.server = client, server
        self.frozen = False  # forward nothing, close nothing: a half-open path
        self.swallow = False  # the client side is gone; drain the server silently


class TcpProxy:
    """A real TCP hop between a client and Asterisk that a test can break.

    ``kill_all()`` resets every client connection (the cable is cut);
    ``freeze_all()`` silently stops forwarding on existing connections without
    closing them (a half-open socket: only a watchdog can notice);
    ``drop_after(marker)`` forwards the next client chunk containing
    ``marker`` to Asterisk and at once cuts the client off, so Asterisk acts
    on the action but its answer never reaches the client. New connections
    are always forwarded normally, so a client can reconnect.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.accepted = 0
        self._pairs: list[_Pair] = []
        self._drop_marker: bytes | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            self._server.close()
        for pair in self._pairs:
            pair.client.transport.abort()
            pair.server.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def kill_all(self) -> None:
        """Reset every client connection now."""
        for pair in self._pairs:
            pair.client.transport.abort()

    def freeze_all(self) -> None:
        """Stop forwarding on every existing connection, keeping them open."""
        for pair in self._pairs:
            pair.frozen = True

    def drop_after(self, marker: bytes) -> None:
        """Cut the client off right after forwarding a chunk containing ``marker``."""
        self._drop_marker = marker

    async def _accept(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.accepted += 1
        sreader, swriter = await asyncio.open_connection(*self.target)
        pair = _Pair(cwriter, swriter)
        self._pairs.append(pair)
        for coro in (self._pump_up(creader, pair), self._pump_down(sreader, pair)):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump_up(self, reader: asyncio.StreamReader, pair: _Pair) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if pair.frozen:
                    continue
                pair.server.write(data)
                await pair.server.drain()
                if self._drop_marker is not None and self._drop_marker in data:
                    self._drop_marker = None
                    pair.swallow = True
                    pair.client.transport.abort()
                    return

    async def _pump_down(self, reader: asyncio.StreamReader, pair: _Pair) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if pair.frozen or pair.swallow:
                    continue
                pair.client.write(data)
                await pair.client.drain()
