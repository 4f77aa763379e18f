"""Fault: a real ``rq worker`` is SIGKILLed in the middle of a text batch (some
messages sent and recorded, some sent and not recorded); RQ recovers the job.

Invariant (exactly-once end to end): after the crash and the rerun the
provider holds every message once, messages sent before the kill are
reconciled with the provider rather than resent, every attempt is settled,
and the ledger passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest
import sqlalchemy as sa
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from campaigns.ledger.chain import EVENTS, verify
from campaigns.messaging import enqueue_batch, job_id
from campaigns.queues import fetch_job, rq_queue, rq_worker
from campaigns.storage.db import make_engine
from sandbox.providers import StandinHandle
from tests.faults.invariants import check_ledger
from tests.support.components import free_port
from tests.support.messaging import (
    World,
    make_settings,
    portfolio_rows,
    set_zone,
    zone_at_local_hour,
)
from tests.support.portfolio import load_rows
from tests.support.redis_server import PrivateRedis

SERIALIZER_PATH = "campaigns.queues.SERIALIZER"
pytestmark = [pytest.mark.redis, pytest.mark.slow]
MESSAGES = 240


def rq_cli_worker(
    settings_env: dict[str, str], redis_url: str, queue: str
) -> subprocess.Popen[bytes]:
    """A real ``rq worker`` process (it forks a work horse per job)."""
    rq = Path(sys.executable).with_name("rq")
    return subprocess.Popen(
        # The serializer the product's own queues and workers use (campaigns.queues).
        [str(rq), "worker", "--url", redis_url, "--burst", "--serializer", SERIALIZER_PATH, queue],
        env={**os.environ, **settings_env},
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_mid_batch_then_recovery_sends_nothing_twice(
    database_url: str,
    private_redis: PrivateRedis,
    standin: StandinHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a redis-server of its own: the shared test DB is flushed by other test processes
    redis_url = private_redis.url
    engine = make_engine(database_url)
    load_rows(engine, portfolio_rows(MESSAGES), dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    set_zone(engine, zone_at_local_hour(13))
    # Status callbacks carry the attempt id; nothing listens there (not needed here).
    settings = make_settings(
        database_url,
        redis_url,
        standin,
        webhook_base_url=f"http://127.0.0.1:{free_port()}",
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(redis_url)
    queue = rq_queue(settings.queue, connection=redis)
    world = World(engine, settings, standin, redis, queue)
    batch = world.batch([f"U{i}" for i in range(MESSAGES)], "sms")
    # Each Twilio request takes 20 ms, so the batch is mid-flight for a while.
    standin.state.fail_next("twilio", MESSAGES, status=None, delay_s=0.02)
    enqueue_batch(queue, batch, retry=None)

    worker = rq_cli_worker(settings.to_env(), redis_url, settings.queue)
    try:
        deadline = time.monotonic() + 60
        # Kill in the second chunk of texts: the first is sent and recorded,
        # the second partly sent and not recorded.
        while standin.state.counts.get("twilio.accepted", 0) < 130:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.005)
        # RQ's work horse runs in a session of its own (setsid): kill it and
        # its parent, as a machine crash would, by their ids.
        for proc in [*psutil.Process(worker.pid).children(recursive=True), worker]:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
        if worker.stderr:
            worker.stderr.close()
    # Requests already on the wire when the worker died still land at the provider.
    time.sleep(0.5)
    sent_before = standin.state.counts["twilio.accepted"]
    assert 130 <= sent_before < MESSAGES, "the kill landed outside the batch"
    with engine.connect() as conn:
        recorded = conn.execute(
            sa.select(sa.func.count()).where(EVENTS.c.resolves_id.is_not(None))
        ).scalar_one()
    assert recorded < sent_before  # some messages went out with no outcome recorded

    # RQ notices the dead worker's job once its heartbeat expires; we do not
    # wait the minutes that takes but ask the registry to clean up as of then.
    started = StartedJobRegistry(queue=queue)
    started.cleanup(timestamp=time.time() + 3600)
    failed = FailedJobRegistry(queue=queue)
    assert job_id(batch) in failed.get_job_ids()
    failed.requeue(job_id(batch))
    rq_worker([queue], redis, SimpleWorker).work(burst=True)

    job = fetch_job(job_id(batch), redis)
    assert job.get_status() == "finished", job.exc_info
    report = job.return_value()
    texts = standin.state.sent_texts()
    per_attempt = collections.Counter(
        parse_qs(urlsplit(t.status_callback or "").query)["attempt"][0] for t in texts
    )
    assert len(texts) == MESSAGES
    assert max(per_attempt.values()) == 1, "a message was sent twice"
    assert len({t.to for t in texts}) == MESSAGES
    # Messages that went out before the kill were reconciled with the
    # provider, not resent; the rest were sent now.
    assert report["reconciled"] == sent_before - recorded
    assert report["already_done"] == recorded
    assert report["sent"] == MESSAGES - sent_before
    with engine.connect() as conn:
        rows = conn.execute(sa.select(EVENTS)).all()
    attempts = {r.id for r in rows if r.resolves_id is None}
    outcomes = collections.Counter(r.resolves_id for r in rows if r.resolves_id is not None)
    assert len(attempts) == MESSAGES
    assert set(outcomes) == attempts and max(outcomes.values()) == 1
    assert {str(a) for a in attempts} == set(per_attempt)
    assert verify(engine).ok
    check_ledger(engine, visibly_pending=report["ambiguous"])
    redis.close()
    engine.dispose()
