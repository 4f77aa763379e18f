"""The AMI client meeting peers that are not Asterisk (real sockets, no PBX)."""

from __future__ import annotations

import asyncio

import pytest

from dialer.ami import AmiClient, AmiError
from tests.support.components import free_port


def test_a_peer_that_is_not_ami_is_named_in_the_error() -> None:
    async def scenario() -> None:
        async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()
            await reader.read()  # wait for the client to hang up

        server = await asyncio.start_server(http, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ami = AmiClient("127.0.0.1", port, "u", "s", connect_timeout=5.0)
        with pytest.raises(AmiError, match=r"expected the AMI greeting.*HTTP/1\.1 400"):
            await ami.connect()
        assert not ami.connected
        server.close()
        await server.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_nothing_listening_fails_the_first_connect() -> None:
    async def scenario() -> None:
        ami = AmiClient("127.0.0.1", free_port(), "u", "s")
        with pytest.raises(ConnectionRefusedError):
            await ami.connect()
        with pytest.raises(AmiError, match="closed"):
            await ami.connect()  # a failed client is closed: make a new one

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="backoff"):
        AmiClient("127.0.0.1", 1, "u", "s", backoff_initial=5.0, backoff_max=1.0)
    with pytest.raises(ValueError, match="ping_interval"):
        AmiClient("127.0.0.1", 1, "u", "s", ping_interval=0)
