"""One dial session per slot: the Redis lease, on a real Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from redis import Redis

from campaigns.dialing import DialSlot
from campaigns.dialing.job import DialerSettings, run_dial_session
from campaigns.dialing.lease import SlotLease, keep_lease, lease_key
from tests.support.components import free_port

pytestmark = pytest.mark.redis


@pytest.fixture()
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def test_one_holder_at_a_time_and_only_the_holder_renews_or_releases(redis: Redis) -> None:
    a, b = SlotLease(redis, "k"), SlotLease(redis, "k")
    assert a.acquire() and not b.acquire()
    assert a.renew() and not b.renew()
    b.release()  # not b's: nothing happens
    assert a.current_holder() == a.holder
    a.release()
    assert b.acquire() and not a.renew() and b.current_holder() == b.holder


def test_an_unrenewed_lease_lapses_and_another_session_may_take_it(redis: Redis) -> None:
    a, b = SlotLease(redis, "k", ttl_s=0.2), SlotLease(redis, "k")
    assert a.acquire()
    time.sleep(0.4)
    assert b.acquire() and not a.renew()


def test_a_dead_holder_on_this_host_is_taken_over_a_live_or_remote_one_is_not(
    redis: Redis,
) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(finished.stdout)
    here = socket.gethostname()
    lease = SlotLease(redis, "k")
    for holder, taken in [
        (f"{here}:{dead_pid}:x", True),
        (f"{here}:1:x", False),  # alive (init), perhaps another user's
        (f"another-host:{dead_pid}:x", False),  # cannot be checked from here
    ]:
        redis.set("k", holder, px=30_000)
        assert lease.acquire() is taken, holder
        assert lease.current_holder() == (lease.holder if taken else holder)


def test_keeping_a_lease_reports_its_loss(redis: Redis) -> None:
    lease = SlotLease(redis, "k", ttl_s=5)
    assert lease.acquire()
    lost: list[str] = []

    async def scenario() -> None:
        keeper = asyncio.create_task(keep_lease(lease, lost.append, every_s=0.05))
        await asyncio.sleep(0.2)
        assert not lost and not keeper.done()  # renewing quietly
        redis.set("k", "someone-else:1:y", px=30_000)
        await asyncio.wait_for(keeper, 5)

    asyncio.run(scenario())
    assert lost == ["lease k lost: now held by someone-else:1:y"]


def test_keeping_a_lease_gives_up_when_redis_stays_unreachable() -> None:
    unreachable = Redis(port=free_port(), socket_connect_timeout=0.2)
    lease = SlotLease(unreachable, "k")
    lost: list[str] = []
    asyncio.run(
        asyncio.wait_for(keep_lease(lease, lost.append, every_s=0.02, give_up_after_s=0.2), 10)
    )
    (why,) = lost
    assert why.startswith("lease k not renewed for ") and " s (Redis: " in why


def test_a_second_session_for_a_slot_being_dialed_does_not_start(redis_url: str) -> None:
    slot = DialSlot(
        run_id=7,
        slot=3,
        slot_start=dt.datetime(2026, 12, 7, 14, tzinfo=dt.UTC),
        slot_end=dt.datetime(2026, 12, 7, 15, tzinfo=dt.UTC),
    )
    holder = SlotLease(Redis.from_url(redis_url), lease_key(7, 3))
    assert holder.acquire()
    # Neither the database nor Asterisk exist: a session that went past the
    # lease would fail on them.
    nowhere = f"127.0.0.1:{free_port()}"
    settings = DialerSettings(
        database_url=f"postgresql+psycopg://nobody@{nowhere}/nothing",
        redis_url=redis_url,
        ami_host="127.0.0.1",
        ami_port=free_port(),
        ami_username="x",
        ami_secret="y",
    )
    report = asyncio.run(run_dial_session(settings, slot, lease_wait_s=0.3))
    assert report.dials == 0
    assert report.stopped == (
        f"run 7 slot 3 is dialed by another session ({holder.holder}): not started"
    )
    assert holder.renew()  # still the other session's
    holder.redis.close()
