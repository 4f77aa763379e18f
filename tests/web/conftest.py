"""Fixtures for the console: a loaded portfolio, accounts of every role, a logged-in client."""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.ledger.chain import LedgerEntry, append_now
from campaigns.storage.db import make_engine
from tests.support.clock import Clock
from tests.support.portfolio import load_rows, two_debtors
from tests.web.browser import browser  # noqa: F401  (a shared fixture)

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in Bogotá
PASSWORD = "correct horse battery"
WEB_REDIS_DB = int(os.environ.get("CADENCIA_TEST_WEB_REDIS_DB", "12"))
USERS = {
    "ana": ("agent", "agent1", "Local/agent1@agents/n"),
    "beto": ("agent", "agent2", "Local/agent2@agents/n"),
    "mara": ("manager", None, None),
    "cora": ("compliance", None, None),
    "root": ("admin", None, None),
}


def seed(engine: Engine, now: dt.datetime) -> None:
    """The portfolio and one account per role (password ``PASSWORD``)."""
    load_rows(engine, two_debtors(), now - dt.timedelta(days=1))
    for username, (role, agent_id, interface) in USERS.items():
        create_user(
            engine,
            username,
            PASSWORD,
            role,
            now=now,
            agent_id=agent_id,
            queue_interface=interface,
        )


def pending_call(engine: Engine, customer_id: str, at: dt.datetime, key: str) -> int:
    """A voice attempt reserved and ringing (as the dial session's guard leaves it)."""
    (attempt_id,) = append_now(
        engine,
        [
            LedgerEntry(
                at=at,
                customer_id=customer_id,
                debt_ids=("A1", "A2") if customer_id == "C1" else ("B1",),
                channel="voice",
                direction="outbound",
                kind="attempt",
                status="pending",
                contact_point="+573001234567",
                line_type="mobile",
                campaign="co-tarjetas",
                extra={"packs": ["co-ley2300", "house"], "timezones": ["America/Bogota"]},
                idempotency_key=key,
            )
        ],
        now=at,
    )
    return attempt_id


@dataclass
class Console:
    """A console app under test with its storage."""

    engine: Engine
    redis: redis.Redis
    namespace: str
    clock: Clock
    client: TestClient

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """Log ``client`` in (cookies kept); returns it."""
        form = self.client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        response = self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf": token.group(1)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return self.client

    def csrf(self, path: str) -> str:
        """The session's CSRF token, read from a page as a browser would."""
        page = self.client.get(path)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None, page.text
        return token.group(1)


@pytest.fixture()
def web_redis(redis_url: str) -> Iterator[tuple[str, str]]:
    """(Redis URL, namespace) private to this test, safe from other runs' FLUSHDB.

    The shared ``redis_url`` DB is flushed by every test of every pytest run on
    the machine; the console's agent board would vanish mid-test when engineers
    run suites side by side. So: another DB number, a namespace of our own, and
    only our own keys deleted afterwards.
    """
    url = redis_url.rsplit("/", 1)[0] + f"/{WEB_REDIS_DB}"
    namespace = f"cadencia-test-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(url)
    try:
        yield url, namespace
    finally:
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture()
def console(database_url: str, web_redis: tuple[str, str]) -> Iterator[Console]:
    """The console on a seeded database, without a PBX (ready/pause then answer 503)."""
    redis_url, namespace = web_redis
    engine = make_engine(database_url)
    seed(engine, NOW)
    clock = Clock(NOW)
    app = create_web_app(
        engine, redis_url=redis_url, namespace=namespace, clock=clock, secure_cookies=False
    )
    client = redis.Redis.from_url(redis_url)
    try:
        with TestClient(app) as http:
            yield Console(engine, client, namespace, clock, http)
    finally:
        client.close()
        engine.dispose()
