"""The ``asterisk_sandbox`` fixture: a real Asterisk 22 for the whole session.

It starts a private instance of the sandbox (``campaigns.sandbox.asterisk``),
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
import contextlib
import os
from collections.abc import Iterator

import pytest

from campaigns.sandbox import asterisk as sandbox
from tests.support.components import component_missing

COMPONENT = "Asterisk 22 sandbox"


@pytest.fixture(scope="session")
def asterisk_sandbox() -> Iterator[sandbox.SandboxState]:
    """A running sandbox Asterisk: ``.host``, ``.port``, ``.username``,
    ``.secret`` (AMI), ``.root`` (the Debian root) and ``.queue_log``."""
    missing = sandbox.prerequisites_missing()
    if missing:
        component_missing(COMPONENT, missing)
    name = f"pytest-{os.getpid()}"
    try:
        state = sandbox.start(name, timeout=90.0)
    except sandbox.SandboxError as exc:
        component_missing(COMPONENT, str(exc))
    try:
        yield state
    finally:
        sandbox.stop(name, keep_files=False)


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
