"""A run killed (SIGKILL) while planning, dispatching or executing, then resumed.

The driver is a real ``cadencia run --wait`` process, killed the moment the
database shows its run in the chosen state (for ``executing``, a slot later),
then restarted with ``--resume`` while workers and the day's clock go on.

Invariant: it ends with the same attempts as an uninterrupted run of the same
plan: nobody contacted twice, nobody forgotten.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.run.inputs import slot_starts
from campaigns.storage.db import make_engine, migrate
from sandbox.day import local_services
from tests.run.test_planning import EXAMPLES, load_generated

DAY = dt.date(2026, 12, 1)  # a Tuesday, not a Chilean holiday
FACTOR = 360  # an hour in ten seconds
LEAD = dt.timedelta(minutes=60)


def short_day(tmp_path: Path) -> Path:
    """The Chilean campaign, messages only, over four hour-slots from 09:00."""
    text = (EXAMPLES / "cl-consumo.toml").read_text(encoding="utf-8")
    text = text.replace("[channels.voice]\n", "[channels.voice]\nenabled = false\n")
    text = text.replace("first_hour = 8", "first_hour = 9")
    start = text.index("per_slot = [")
    text = text[:start] + "per_slot = [4, 8, 8, 8]" + text[text.index("\n", start) :]
    path = tmp_path / "cl-short.toml"
    path.write_text(text, encoding="utf-8")
    return path


def attempted(url: str) -> tuple[Counter[tuple[str, str, int]], int]:
    """(customer, channel, slot) of every attempt made for the plan, and pending ones."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT p.customer_id, p.channel, p.slot, a.status,"
                " (SELECT count(*) FROM contact_events o WHERE o.resolves_id = a.id)"
                " FROM contact_events a JOIN planned_contacts p"
                " ON a.idempotency_key = 'plan:' || p.id"
            )
        ).all()
    engine.dispose()
    return Counter((c, ch, s) for c, ch, s, _, _ in rows), sum(1 for *_, n in rows if n == 0)


def state_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT state FROM runs")).scalar()
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


def run_day(
    tmp_path: Path, redis_url: str, kill_at: str | None
) -> tuple[Counter[tuple[str, str, int]], int]:
    url = f"sqlite:///{tmp_path}/day.db"
    migrate(url)
    load_generated(url, 200, ("CL",))
    campaign_path = short_day(tmp_path)
    campaign = load_campaign(campaign_path)
    # The day starts LEAD before its first slot: at this speed the processes'
    # start-up (workers, the driver, planning) takes several simulated tens of
    # minutes, and a first slot that closes before its batches run drops them.
    clock = Clock.compressed(slot_starts(campaign, DAY)[0] - LEAD, FACTOR)
    redis.Redis.from_url(redis_url).flushdb()
    with local_services(url, redis_url, [campaign], clock, log_dir=tmp_path / "logs") as services:
        env = {**services.env, "CADENCIA_DATABASE_URL": url}
        command = [
            sys.executable,
            "-m",
            "cadencia",
            "run",
            "--campaign",
            str(campaign_path),
            "--date",
            DAY.isoformat(),
            "--wait",
        ]
        control = redis.Redis.from_url(redis_url)
        if kill_at == "dispatching":
            # Dispatching 200 customers' batches takes milliseconds, too short to
            # catch by polling. With Redis refusing writes the driver stops at
            # its first enqueue, in the dispatching state, until it is killed.
            control.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        try:
            driver = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if kill_at is not None:
                deadline = time.monotonic() + 120
                while state_of(url) != kill_at:
                    assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
                    assert time.monotonic() < deadline, f"never reached {kill_at}"
                    time.sleep(0.01)
                if kill_at == "executing":
                    time.sleep(12)  # past the first slot's batches
                os.kill(driver.pid, signal.SIGKILL)
                driver.wait(timeout=10)
        finally:
            control.execute_command("CLIENT", "UNPAUSE")
            control.close()
        if kill_at is not None:
            driver = subprocess.Popen(
                [sys.executable, "-m", "cadencia", "run", "--resume", "1", "--wait"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        _, err = driver.communicate(timeout=300)
        assert driver.returncode == 0, err.decode()[-2000:]
    assert state_of(url) == "closed"
    return attempted(url)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Counter[tuple[str, str, int]]:
    url = os.environ.get("CADENCIA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    db = int(os.environ.get("CADENCIA_TEST_REDIS_DB", "13"))
    attempts, pending = run_day(tmp_path_factory.mktemp("baseline"), f"{url}/{db}", None)
    assert attempts and pending == 0
    return attempts


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["planning", "dispatching", "executing"])
def test_killed_run_resumes_to_the_same_attempts(
    kill_at: str, tmp_path: Path, redis_url: str, uninterrupted: Counter[tuple[str, str, int]]
) -> None:
    attempts, pending = run_day(tmp_path, redis_url, kill_at)
    assert max(attempts.values()) == 1  # nobody contacted twice for one planned contact
    assert attempts == uninterrupted  # nobody forgotten, nothing extra
    assert pending == 0
