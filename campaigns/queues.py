"""RQ queues and workers as Cadencia builds them: jobs are JSON, never pickled.

RQ pickles a job's function, arguments, result and meta by default, and a
worker unpickles whatever it dequeues: anyone who can write to Redis could
then run code on every worker. Every queue, worker and job lookup the product
makes goes through this module, with RQ's JSON serializer, so a job is data
(a function's dotted path and JSON arguments) and a pickled job is refused: it
fails to decode, lands in the failed registry, and nothing of it runs.

Job arguments, results and meta must therefore be JSON-safe: the jobs pass
plain dicts (instants as ISO 8601 strings, see ``DialSlot.to_payload`` and
``MessageBatch.to_payload``).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

SERIALIZER = JSONSerializer


def rq_queue(name: str, connection: Redis) -> Queue:
    """The RQ queue ``name`` on ``connection``, with JSON jobs."""
    return Queue(name, connection=connection, serializer=SERIALIZER)


def rq_worker(
    queues: Sequence[str | Queue], connection: Redis, worker_class: type[Worker] = Worker
) -> Worker:
    """A worker on ``queues`` (names or queues, in priority order) that reads JSON jobs only."""
    # A worker decodes every job it dequeues with its own serializer, whatever
    # the queue object it was given says: the worker's is the one that matters.
    return worker_class(
        [rq_queue(q, connection) if isinstance(q, str) else q for q in queues],
        connection=connection,
        serializer=SERIALIZER,
    )


def rq_worker_pool(names: Sequence[str], connection: Redis, num_workers: int) -> WorkerPool:
    """A pool of ``num_workers`` worker processes on ``names``, reading JSON jobs only."""
    return WorkerPool(
        list(names), connection=connection, num_workers=num_workers, serializer=SERIALIZER
    )


def fetch_job(job_id: str, connection: Redis) -> Job:
    """The job ``job_id`` (``rq.exceptions.NoSuchJobError`` if Redis has none), read as JSON."""
    return Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
