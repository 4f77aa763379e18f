"""Fault: the SMS provider times out in the middle of a real batch job: three of its
requests take longer than the client waits, and the provider accepts those
messages anyway, after the client has given up.

Invariant: a timed-out message is ambiguous (it may have gone out), so it is
neither resent nor invented as sent: its attempt stays visibly pending and the
job's report names it. Rerunning the job asks the provider, finds the three
messages there, and records them as sent (reconciled) without sending again:
the provider holds every message exactly once, no attempt is left pending, and
the ledger passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from redis import Redis

from campaigns.messaging import enqueue_batch, job_id
from campaigns.queues import fetch_job, rq_queue
from campaigns.storage.db import make_engine
from channels import ChannelSettings
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

pytestmark = pytest.mark.redis
MESSAGES = 8
SLOW = 3  # requests that outlast the client's timeout
TIMEOUT_S = 0.5


def test_timed_out_sends_stay_pending_then_reconcile_without_resending(
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
    channels = ChannelSettings.from_mapping(
        {
            **standin.env(),
            "PAYMENT_LINK_URL_PATTERN": "https://pay.bank.example/p/{token}",
            "PAYMENT_LINK_SECRET": "test-link-secret",
            "CHANNELS_HTTP_TIMEOUT_S": str(TIMEOUT_S),
        }
    )
    # Status callbacks carry the attempt id; nothing listens there (not needed here).
    settings = make_settings(
        database_url,
        redis_url,
        standin,
        channels=channels,
        webhook_base_url=f"http://127.0.0.1:{free_port()}",
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(redis_url)
    world = World(engine, settings, standin, redis, rq_queue(settings.queue, connection=redis))
    batch = world.batch([f"U{i}" for i in range(MESSAGES)], "sms")

    standin.state.fail_next("twilio", SLOW, status=None, delay_s=4 * TIMEOUT_S)
    enqueue_batch(world.queue, batch)
    world.drain()
    first = fetch_job(job_id(batch), redis)
    assert first.get_status() == "finished", first.exc_info
    report = first.return_value()
    assert len(report["ambiguous"]) == SLOW and report["sent"] == MESSAGES - SLOW, report
    # the slow requests were accepted after the client gave up
    deadline = time.monotonic() + 10
    while len(standin.state.sent_texts()) < MESSAGES:
        assert time.monotonic() < deadline, "the provider never took the slow messages"
        time.sleep(0.05)
    state = check_ledger(engine, visibly_pending=report["ambiguous"])
    assert state.pending == set(report["ambiguous"])  # pending, not invented as sent

    enqueue_batch(world.queue, batch)  # the operator (or RQ) runs the batch again
    world.drain()
    again = fetch_job(job_id(batch), redis).return_value()
    assert again["reconciled"] == SLOW and again["sent"] == 0, again
    assert again["ambiguous"] == []

    texts = standin.state.sent_texts()
    per_attempt = collections.Counter(
        parse_qs(urlsplit(t.status_callback or "").query)["attempt"][0] for t in texts
    )
    assert len(texts) == MESSAGES and max(per_attempt.values()) == 1, "a text was sent twice"
    state = check_ledger(engine, visibly_pending=[])
    assert not state.pending and len(state.attempts) == MESSAGES
    assert {state.latest(a) for a in state.attempts} == {"sent"}
    assert {str(a) for a in state.attempts} == set(per_attempt)
    redis.close()
    engine.dispose()
