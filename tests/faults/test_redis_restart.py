"""Fault: Redis crashes and restarts empty after the plan was dispatched.

Invariant: the plan lives in the database, so the run's next execution step
recreates exactly the lost message jobs (same ids), and doing so again
creates nothing more: no job is doubled, no planned contact is forgotten, and
the ledger passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from campaigns.db import make_engine, migrate
from campaigns.run.execute import execution_step
from campaigns.run.state import advance, create_run, status
from tests.faults.invariants import check_ledger
from tests.run.test_planning import EXAMPLES, load_generated
from tests.support.redis_server import PrivateRedis


def scheduled(queue: Queue) -> set[str]:
    return set(ScheduledJobRegistry(queue=queue).get_job_ids())


def test_lost_queues_are_recreated_from_the_plan(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    migrate(url)
    load_generated(url, 400, ("CL",))
    campaign = tmp_path / "cl-messages.toml"
    campaign.write_text(
        (EXAMPLES / "cl-consumo.toml")
        .read_text(encoding="utf-8")
        .replace("[channels.voice]\n", "[channels.voice]\nenabled = false\n"),
        encoding="utf-8",
    )
    day = dt.date.today() + dt.timedelta(days=3)  # every slot still ahead: jobs are scheduled
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    run_id = create_run(engine, campaign, day, needs_approval=False, now=now)
    with PrivateRedis() as server:
        queue = Queue("messages", connection=Redis.from_url(server.url))
        step = execution_step(queue)
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        first = scheduled(queue)
        planned = status(engine, run_id).summary["planned_attempts"]
        assert first and status(engine, run_id).planned_by_status == {"dispatched": planned}

        server.kill()
        server.start()  # empty: every scheduled job is gone
        queue = Queue("messages", connection=Redis.from_url(server.url))
        assert scheduled(queue) == set()

        step = execution_step(queue)
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        assert scheduled(queue) == first
        assert advance(engine, run_id, now=now, dispatch=step) == "executing"
        assert scheduled(queue) == first
    # every slot is still ahead: nobody was contacted, and the ledger is sound
    assert not check_ledger(engine, visibly_pending=[]).attempts
    engine.dispose()
