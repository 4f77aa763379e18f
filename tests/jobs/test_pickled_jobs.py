"""Write access to Redis is not code execution on the workers: a pickled job is refused.

RQ pickles jobs by default, and unpickling runs whatever the pickle says.
Cadencia's queues and workers (``campaigns.queues``) read JSON only, so a job
someone pickled into Redis fails to decode in the failed registry, and
nothing of it runs, while the product's own jobs go through.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.messaging import enqueue_batch, job_id
from campaigns.queues import fetch_job
from tests.support.messaging import World

pytestmark = pytest.mark.redis


class RunsWhenUnpickled:
    """Unpickling this makes the directory ``path``: proof the pickle was loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (self.path,)


def plant_pickled_job(world: World, tmp_path: Path) -> tuple[str, Path, Path]:
    """A job pickled onto the message queue as an intruder with Redis access would.

    Returns its id, the directory unpickling it would make and the one running it would.
    """
    unpickled, executed = tmp_path / "unpickled", tmp_path / "executed"
    pickled = Queue(world.settings.queue, connection=world.redis)  # rq's default: pickle
    # os.makedirs(executed, exist_ok=<whatever unpickling returned>) if it ever ran.
    job = pickled.enqueue(os.makedirs, str(executed), exist_ok=RunsWhenUnpickled(str(unpickled)))
    return job.id, unpickled, executed


@pytest.mark.parametrize("entry_point", ["messages-worker", "worker-pool"])
def test_a_pickled_job_is_refused_and_the_products_job_still_runs(
    world: World, tmp_path: Path, entry_point: str
) -> None:
    command = {
        "messages-worker": ["messages", "worker", "--burst"],
        "worker-pool": ["worker", "--workers", "1", "--burst", "--queues", world.settings.queue],
    }[entry_point]
    evil, unpickled, executed = plant_pickled_job(world, tmp_path)
    batch = world.batch(["U0", "U1"], "email")
    enqueue_batch(world.queue, batch)

    result = CliRunner().invoke(app, command)

    assert result.exit_code == 0, result.output
    assert not unpickled.exists() and not executed.exists()
    assert evil in FailedJobRegistry(queue=world.queue).get_job_ids()
    assert fetch_job(job_id(batch), world.redis).get_status() == "finished"
    assert sorted(e.to_email for e in world.standin.state.sent_emails()) == [
        "mary0@example.com",
        "mary1@example.com",
    ]
