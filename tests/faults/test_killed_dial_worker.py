"""Fault: a real ``rq worker`` running a dial session is SIGKILLed mid-slot, with
two debtors talking to agents; the job is rerun.

After the kill, calls already placed go on in Asterisk with nobody watching.
Invariant: the rerun resumes from the Redis hopper and the ledger: calls still up are
adopted (their conversations recorded when they end), calls that may have
been placed and are gone stay visibly pending, the rest are dialed now, and
Asterisk itself (watched by a separate AMI connection) never saw a debtor
dialed twice; the ledger passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from campaigns.dialing import RedisHopper, enqueue_dial_session, job_id
from campaigns.ledger.chain import EVENTS, verify
from campaigns.queues import fetch_job, rq_queue, rq_worker
from dialer.session import call_id_for
from sandbox.asterisk import SandboxState
from tests.faults.invariants import check_ledger
from tests.support.asterisk import ThreadObserver, reset_agents
from tests.support.dialworld import make_world, sandbox_settings

SERIALIZER_PATH = "campaigns.queues.SERIALIZER"
pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
CALLS = 8


def rq_cli_worker(env: dict[str, str], dial_redis_url: str, queue: str) -> subprocess.Popen[bytes]:
    rq = Path(sys.executable).with_name("rq")
    return subprocess.Popen(
        # The serializer the product's own queues and workers use (campaigns.queues).
        [
            str(rq),
            "worker",
            "--url",
            dial_redis_url,
            "--burst",
            "--serializer",
            SERIALIZER_PATH,
            queue,
        ],
        env={**os.environ, **env},
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def attempts_so_far(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    EVENTS.c.channel == "voice", EVENTS.c.resolves_id.is_(None)
                )
            ).scalar_one()
        )


def test_sigkilled_dial_worker_resumes_without_dialing_anyone_twice(
    asterisk_sandbox: SandboxState,
    dial_redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    world = make_world(tmp_path, ["5550001"] * CALLS)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=4.0)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(dial_redis_url)
    RedisHopper(redis, world.run_id, world.slot.slot).fill(world.contacts())
    queue = rq_queue(settings.rq_queue, connection=redis)
    enqueue_dial_session(queue, world.slot, retry=None)
    prefix = f"{world.prefix}-a"

    with ThreadObserver(asterisk_sandbox) as observer:
        worker = rq_cli_worker(settings.to_env(), dial_redis_url, settings.rq_queue)
        try:
            deadline = time.monotonic() + 60
            # kill while the first two debtors are talking to the two agents
            while attempts_so_far(world.engine) < 2:
                assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
                assert time.monotonic() < deadline, "the dial session never got going"
                time.sleep(0.05)
            time.sleep(1.5)
            horses = [p.pid for p in psutil.Process(worker.pid).children(recursive=True)]
            for pid in [*horses, worker.pid]:
                os.kill(pid, signal.SIGKILL)
        finally:
            worker.wait(timeout=10)
            if worker.stdout:
                worker.stdout.close()
        dialed_before = attempts_so_far(world.engine)
        assert 2 <= dialed_before < CALLS, "the kill landed outside the session"

        # RQ notices a dead worker once its heartbeat expires; ask it to clean up as of then.
        StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
        failed = FailedJobRegistry(queue=queue)
        jid = job_id(world.slot)
        status = fetch_job(jid, redis).get_status(refresh=True)
        assert jid in failed.get_job_ids(), status
        failed.requeue(jid)
        rq_worker([queue], redis, SimpleWorker).work(burst=True)
        channels = collections.Counter(
            c for c in observer.channels if c.startswith(prefix) and not c.endswith("-far")
        )

    job = fetch_job(jid, redis)
    assert job.get_status() == "finished", job.exc_info
    report = job.return_value()
    assert isinstance(report, dict)
    assert max(channels.values()) == 1, f"a debtor was dialed twice: {channels}"
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.channel == "voice")).all()
    attempts = {r.id for r in rows if r.resolves_id is None}
    outcomes = collections.Counter(r.resolves_id for r in rows if r.resolves_id is not None)
    assert len(attempts) == CALLS, json.dumps(
        report
    )  # one attempt per planned contact, never a second
    assert set(channels) == {call_id_for(a, world.prefix) for a in attempts}
    assert max(outcomes.values()) == 1
    # every attempt is settled, or visibly pending and named by the resumed run
    assert set(outcomes) | set(report["left_pending"]) == attempts
    # the calls in flight at the kill were taken over, not redialed
    assert report["adopted"] + len(report["left_pending"]) >= 1
    assert report["dials"] == CALLS - dialed_before
    assert RedisHopper(redis, world.run_id, 0).in_progress() == []
    assert verify(world.engine).ok
    check_ledger(world.engine, visibly_pending=report["left_pending"])
    redis.close()
