"""Fixtures: the webhook receiver served by a real uvicorn over HTTP, the stand-in
posting signed webhooks to it, and message jobs to produce attempts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from redis import Redis

from campaigns.queues import rq_queue
from campaigns.storage.db import make_engine
from sandbox.providers import StandinHandle, WebhookMix, start_standin
from tests.support.components import free_port
from tests.support.messaging import (
    World,
    make_settings,
    portfolio_rows,
    set_zone,
    zone_at_local_hour,
)
from tests.support.portfolio import load_rows
from tests.support.webhooks import serving_webhooks


@dataclass
class Hooks:
    """A world whose stand-in reports back to a live receiver at ``base_url``."""

    world: World
    base_url: str


@pytest.fixture()
def hooks(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    """Receiver + stand-in + six NY debtors at midday; no random outcomes."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    standin: StandinHandle = start_standin(
        mix=WebhookMix(bounced=0.0, opened=0.0, failed=0.0, replied=0.0),
        webhook_delay_s=0.05,
        sendgrid_webhook_url=f"{base}/webhooks/sendgrid",
        twilio_inbound_url=f"{base}/webhooks/twilio/inbound",
    )
    engine = make_engine(database_url)
    load_rows(engine, portfolio_rows(6), dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    set_zone(engine, zone_at_local_hour(13))
    settings = make_settings(database_url, redis_url, standin, webhook_base_url=base)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(redis_url)
    try:
        with serving_webhooks(settings, engine, port):
            world = World(
                engine, settings, standin, redis, rq_queue(settings.queue, connection=redis)
            )
            yield Hooks(world, base)
    finally:
        standin.stop()
        redis.close()
        engine.dispose()
