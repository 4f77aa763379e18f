"""Fixtures for message jobs: a migrated database with US debtors, the provider
stand-in over real HTTP (``tests.support.messaging``), real Redis, and the worker
environment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from redis import Redis

from campaigns.queues import rq_queue
from campaigns.storage.db import make_engine
from sandbox.providers import StandinHandle
from tests.support.messaging import (
    World,
    make_settings,
    portfolio_rows,
    set_zone,
    zone_at_local_hour,
)
from tests.support.portfolio import load_rows


@pytest.fixture()
def world(
    database_url: str,
    redis_url: str,
    standin: StandinHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """Six NY debtors at midday local time; the worker environment points at the stand-in."""
    engine = make_engine(database_url)
    load_rows(engine, portfolio_rows(6), dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    set_zone(engine, zone_at_local_hour(13))
    settings = make_settings(database_url, redis_url, standin)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(redis_url)
    try:
        yield World(engine, settings, standin, redis, rq_queue(settings.queue, connection=redis))
    finally:
        redis.close()
        engine.dispose()
