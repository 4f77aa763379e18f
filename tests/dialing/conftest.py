"""Dialing tests get a redis-server of their own: the shared test DB is flushed by
other test processes at any moment, and a dial session lives for seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import PrivateRedis


@pytest.fixture()
def private_redis() -> Iterator[PrivateRedis]:
    """A private, non-persistent redis-server (a test may kill it: a crash loses all)."""
    with PrivateRedis() as server:
        yield server


@pytest.fixture()
def dial_redis_url(private_redis: PrivateRedis) -> str:
    """The URL of the private Redis."""
    return private_redis.url
