"""Fault: Redis crashes and restarts empty after the plan was dispatched.

Invariant: the plan lives in the database, so the run's next execution step
recreates exactly the lost jobs (same ids): message batches, and the dial
session of every voice slot with its hopper in plan order. Doing so again
creates nothing more: no job is doubled, no planned contact is forgotten, and
the ledger passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from campaigns.dialing import RedisHopper, voice_dispatcher
from campaigns.queues import rq_queue
from campaigns.run.execute import execution_step
from campaigns.run.state import advance, create_run, status
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import PlannedContact
from compliance.localtime import is_holiday
from tests.faults.invariants import check_ledger
from tests.run.test_planning import EXAMPLES, load_generated
from tests.support.redis_server import PrivateRedis


def scheduled(queue: Queue) -> set[str]:
    return set(ScheduledJobRegistry(queue=queue).get_job_ids())


def working_day() -> dt.date:
    """Three or more days ahead, so every slot is still to come and jobs are
    scheduled; a working day, since Chile's law forbids collection contact on
    Sundays and holidays (8 Dec left the plan empty)."""
    day = dt.date.today() + dt.timedelta(days=3)
    while day.weekday() >= 5 or is_holiday("CL", None, day):
        day += dt.timedelta(days=1)
    return day


def chilean_campaign(tmp_path: Path, *, voice: bool) -> Path:
    campaign = tmp_path / "cl.toml"
    text = (EXAMPLES / "cl-consumo.toml").read_text(encoding="utf-8")
    if not voice:
        text = text.replace("[channels.voice]\n", "[channels.voice]\nenabled = false\n")
    campaign.write_text(text, encoding="utf-8")
    return campaign


def chilean_run(tmp_path: Path, *, voice: bool) -> tuple[sa.Engine, int, dt.datetime]:
    """400 Chilean debtors and a run (not yet planned) of a working day ahead."""
    url = f"sqlite:///{tmp_path}/r.db"
    migrate(url)
    load_generated(url, 400, ("CL",))
    campaign = chilean_campaign(tmp_path, voice=voice)
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    return engine, create_run(engine, campaign, working_day(), needs_approval=False, now=now), now


def test_lost_message_jobs_are_recreated_from_the_plan(tmp_path: Path) -> None:
    engine, run_id, now = chilean_run(tmp_path, voice=False)
    with PrivateRedis() as server:
        queue = rq_queue("messages", connection=Redis.from_url(server.url))
        step = execution_step(queue)
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        first = scheduled(queue)
        planned = status(engine, run_id).summary["planned_attempts"]
        assert first and status(engine, run_id).planned_by_status == {"dispatched": planned}

        server.kill()
        server.start()  # empty: every scheduled job is gone
        queue = rq_queue("messages", connection=Redis.from_url(server.url))
        assert scheduled(queue) == set()

        step = execution_step(queue)
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        assert scheduled(queue) == first
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        assert scheduled(queue) == first
    # every slot is still ahead: nobody was contacted, and the ledger is sound
    assert not check_ledger(engine, visibly_pending=[]).attempts
    engine.dispose()


def test_lost_dial_sessions_are_recreated_with_their_hoppers(tmp_path: Path) -> None:
    engine, run_id, now = chilean_run(tmp_path, voice=True)
    with PrivateRedis() as server:
        redis = Redis.from_url(server.url)
        messages, dialer = (
            rq_queue("messages", connection=redis),
            rq_queue("dialer", connection=redis),
        )
        step = execution_step(messages, voice=voice_dispatcher(dialer))
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        with engine.connect() as conn:
            voice_rows = conn.execute(
                sa.select(PlannedContact.slot, PlannedContact.customer_id)
                .where(PlannedContact.run_id == run_id, PlannedContact.channel == "voice")
                .order_by(
                    PlannedContact.slot,
                    PlannedContact.rank,
                    sa.desc(PlannedContact.value),
                    PlannedContact.id,
                )
            ).all()

        def hoppers(redis: Redis) -> dict[int, list[str]]:
            return {
                slot: [lead.customer_id for lead in RedisHopper(redis, run_id, slot).take(10_000)]
                for slot in sorted({int(r.slot) for r in voice_rows})
            }

        expected = {
            slot: [str(r.customer_id) for r in voice_rows if r.slot == slot]
            for slot in sorted({int(r.slot) for r in voice_rows})
        }
        sessions = scheduled(dialer)
        assert voice_rows and len(sessions) == len(expected)

        server.kill()
        server.start()  # empty: sessions, their hoppers and message batches are gone
        redis = Redis.from_url(server.url)
        messages, dialer = (
            rq_queue("messages", connection=redis),
            rq_queue("dialer", connection=redis),
        )
        assert scheduled(dialer) == set()

        step = execution_step(messages, voice=voice_dispatcher(dialer))
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        assert scheduled(dialer) == sessions
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        assert scheduled(dialer) == sessions and len(dialer.get_job_ids()) == 0
        # every voice contact is back in its slot's hopper, in plan order, once
        assert hoppers(redis) == expected
        redis.close()
    assert not check_ledger(engine, visibly_pending=[]).attempts
    engine.dispose()
