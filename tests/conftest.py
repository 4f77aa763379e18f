"""Shared fixtures: real PostgreSQL, real Redis, a real Asterisk sandbox.

Every fixture starts or connects to the real component; a component that
cannot be had skips the test naming it (or fails under CADENCIA_REQUIRE_ALL=1).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Shared fixtures, defined with the test-bed they belong to.
from tests.support.asterisk import asterisk_sandbox  # noqa: F401
from tests.support.components import component_missing
from tests.support.messaging import standin  # noqa: F401
from tests.support.redis_server import dial_redis_url, private_redis  # noqa: F401

POSTGRES_ADMIN_URL = os.environ.get(
    "CADENCIA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CADENCIA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Tests own Redis DB 13; the demo and a developer's workers use DB 0.
REDIS_TEST_DB = int(os.environ.get("CADENCIA_TEST_REDIS_DB", "13"))


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, migrated PostgreSQL database for one test; dropped afterwards."""
    import sqlalchemy as sa

    from campaigns.storage.db import migrate

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"cadencia_t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any driver/connect error means "no PostgreSQL here"
        admin.dispose()
        component_missing("PostgreSQL at 127.0.0.1:5432", str(exc).splitlines()[0])
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A freshly migrated PostgreSQL database (for tests that need PostgreSQL itself)."""
    with fresh_postgres() as url:
        yield url


@pytest.fixture()
def redis_url() -> Iterator[str]:
    """A Redis URL on a dedicated DB number, flushed before and after each test."""
    import redis

    url = f"{REDIS_URL}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        component_missing("Redis at 127.0.0.1:6379", str(exc))
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture()
def redis_conn(redis_url: str) -> Iterator[object]:
    """A connected ``redis.Redis`` on the test DB (bytes responses, as RQ needs)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database, once on SQLite and once on PostgreSQL."""
    from campaigns.storage.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/cadencia.db"
        migrate(url)
        yield url
        return
    with fresh_postgres() as url:
        yield url
