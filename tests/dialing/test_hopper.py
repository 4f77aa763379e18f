"""The Redis hopper: plan order, taking, giving back, and a rebuild when Redis lost it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from redis import Redis

from campaigns.dialing import LedgerGuard, RedisHopper
from dialer.session import Lead
from tests.support.dialworld import make_world
from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.redis


def test_leads_come_out_in_plan_order_and_a_second_fill_changes_nothing(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    world = make_world(tmp_path, ["5550001", "5550002", "5550003", "5550004"])
    redis = Redis.from_url(private_redis.url)
    hopper = RedisHopper(redis, world.run_id, 0)
    contacts = world.contacts()
    assert hopper.fill(contacts) and not hopper.fill(contacts[:1])
    first, second = hopper.take(1) + hopper.take(1)
    assert [first.customer_id, second.customer_id] == ["D0", "D1"]
    assert first.key == world.keys()["D0"]
    assert hopper.remaining() == 2 and hopper.in_progress() == [first, second]
    hopper.give_back(second)  # not dialed: first in line again
    assert hopper.take(5) == [
        second,
        Lead(world.keys()["D2"], "D2"),
        Lead(world.keys()["D3"], "D3"),
    ]
    hopper.mark_dialing(first)
    assert hopper.was_dialing(first) and not hopper.was_dialing(second)
    hopper.unmark_dialing(first)
    assert not hopper.was_dialing(first)
    for lead in hopper.in_progress():
        hopper.finish(lead)
    assert hopper.in_progress() == [] and hopper.take(1) == [] and hopper.remaining() == 0
    with pytest.raises(ValueError, match="plan:<planned contact id>"):
        hopper.finish(Lead("msg:7", "D0"))
    redis.close()


def test_a_hopper_redis_lost_is_rebuilt_from_the_plan_and_the_ledger(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    world = make_world(tmp_path, ["5550001", "5550002", "5550003"])
    guard = LedgerGuard(world.engine, world.campaign)
    redis = Redis.from_url(private_redis.url)
    hopper = RedisHopper(redis, world.run_id, 0)
    hopper.fill(world.contacts())
    (lead,) = hopper.take(1)
    assert guard.reserve(lead, dt.datetime.now(dt.UTC)).allowed  # its attempt is pending
    redis.close()

    private_redis.kill()  # Redis crashes: the hopper is gone
    private_redis.start()
    redis = Redis.from_url(private_redis.url)
    hopper = RedisHopper(redis, world.run_id, 0)
    assert not hopper.exists()
    assert hopper.ensure(world.engine) and not hopper.ensure(world.engine)
    # the reserved lead may have been dialed: in progress, and nobody can say it was not
    assert hopper.in_progress() == [lead] and hopper.was_dialing(lead)
    assert [x.customer_id for x in hopper.take(5)] == ["D1", "D2"]
    redis.close()


def test_leads_a_slot_did_not_reach_go_behind_the_next_slots_own_plan(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    world = make_world(tmp_path, ["5550001", "5550002", "5550003", "5550004"])
    redis = Redis.from_url(private_redis.url)
    contacts = world.contacts()
    ten, eleven = RedisHopper(redis, world.run_id, 0), RedisHopper(redis, world.run_id, 1)
    ten.fill(contacts[:3])
    eleven.fill(contacts[3:])
    ten.add_callback(7, "D0", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    (taken,) = ten.take(1)  # the due callback comes first
    assert taken.key == "callback:7"
    (dialed,) = ten.take(1)
    assert dialed.customer_id == "D0"
    # The day's last slot has no next hopper: nothing moves, nothing is lost.
    assert eleven.carry_over(RedisHopper(redis, world.run_id, 2)) == 0
    assert eleven.remaining() == 1
    assert ten.carry_over(eleven) == 2
    assert ten.remaining() == 0 and ten.in_progress() == [dialed, taken]
    assert [lead.customer_id for lead in eleven.take(5)] == ["D3", "D1", "D2"]
    redis.close()
