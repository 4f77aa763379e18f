"""A private redis-server on a free port, which a test may kill and restart."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from types import TracebackType

import pytest
import redis

from tests.support.components import component_missing, free_port


class PrivateRedis:
    """``redis-server`` without persistence: a restart loses everything, like a crash."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            component_missing("redis-server binary", "not on PATH")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        """SIGKILL the server: everything in it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture()
def private_redis() -> Iterator[PrivateRedis]:
    """A private, non-persistent redis-server (a test may kill it: a crash loses all).

    Dial sessions and crash tests use one: the shared test DB is flushed by
    other test processes at any moment, and a session lives for seconds.
    """
    with PrivateRedis() as server:
        yield server


@pytest.fixture()
def dial_redis_url(private_redis: PrivateRedis) -> str:
    """The URL of the private Redis."""
    return private_redis.url
