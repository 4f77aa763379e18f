"""RQ wiring: enqueueing batches for their slot, and the job entry point workers run.

Workers are started with the scheduler (``cadencia worker`` or ``cadencia
messages worker``) so ``enqueue_at`` jobs and retry back-offs fire; jobs are
JSON, never pickled (``campaigns.queues``).
Each job is idempotent by its id (``msg-<batch id>``): enqueueing the same
batch twice schedules it once.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import os
import re
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job

from campaigns.clock import Clock
from campaigns.messaging.batch import Runtime, process_batch
from campaigns.messaging.plan import MessageBatch
from campaigns.messaging.reconcile import BlindReconciler, Reconciler, StandinReconciler
from campaigns.queues import rq_queue
from campaigns.settings import MessagingSettings, Settings
from campaigns.storage.db import make_engine
from channels import RetryPolicy, SendGridTransport, TemplateCatalog, TwilioTransport

log = logging.getLogger(__name__)
JOB_FUNC = "campaigns.messaging.queue.send_batch_job"
# Failed batches stay a week for an operator to inspect or requeue; results a day.
FAILURE_TTL_S = 7 * 24 * 3600
RESULT_TTL_S = 24 * 3600
JOB_TIMEOUT_S = 15 * 60
# 429 and 5xx: back off, but within minutes, since a message slot lasts an hour.
DEFAULT_RETRY = Retry(max=5, interval=[10, 30, 60, 180, 600])
_RUNTIMES: dict[tuple[tuple[str, str], ...], Runtime] = {}
# A batch allocates ~1,000 objects per message; with CPython's default
# thresholds (700, 10, 10) the collector then re-scans every module, template
# and pool object the worker holds, ~10% of a batch's CPU. Those long-lived
# objects are frozen once, and young collections run less often.
GC_THRESHOLDS = (20_000, 20, 20)
_SETTLED_PID = 0


class TransientSendFailure(Exception):
    """Some messages met a transient provider error; RQ retries the job for them."""


def build_runtime(
    settings: MessagingSettings,
    *,
    catalog: TemplateCatalog | None = None,
    clock: Clock | None = None,
) -> Runtime:
    """The wiring of one worker process (connections are opened lazily by their pools)."""
    reconciler: Reconciler = (
        StandinReconciler(settings.standin_url) if settings.standin_url else BlindReconciler()
    )
    # One try per job run: retries belong to RQ, which backs off without
    # holding a worker and survives the worker's death.
    once = RetryPolicy(attempts=1)
    channels = settings.channels
    return Runtime(
        settings=settings,
        engine=make_engine(settings.database_url),
        catalog=catalog or TemplateCatalog.builtin(),
        reconciler=reconciler,
        sendgrid=SendGridTransport.from_settings(channels, retry=once)
        if channels.sendgrid
        else None,
        twilio=TwilioTransport.from_settings(channels, retry=once, trust_env=False)
        if channels.twilio
        else None,
        clock=clock or Clock(),
    )


def settle_heap() -> None:
    """Freeze what this worker process holds now and space out young collections (once)."""
    global _SETTLED_PID
    if os.getpid() == _SETTLED_PID:
        return
    _SETTLED_PID = os.getpid()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def runtime_from_env() -> Runtime:
    """This process's runtime, built from its environment on first use."""
    loaded = Settings.load()
    settings = loaded.messaging()
    key = tuple(sorted(loaded.to_env().items()))
    if key not in _RUNTIMES:
        _RUNTIMES[key] = build_runtime(settings, clock=loaded.clock())
        settle_heap()
    return _RUNTIMES[key]


def message_queue(settings: MessagingSettings, connection: Redis | None = None) -> Queue:
    """The RQ queue message batches go to."""
    return rq_queue(settings.queue, connection=connection or Redis.from_url(settings.redis_url))


def job_id(batch: MessageBatch) -> str:
    """The RQ job id of ``batch``: the same batch is one job.

    RQ allows only letters, digits, ``_`` and ``-``; other characters become
    ``_`` plus a digest of the original, so distinct batch ids stay distinct.
    """
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", batch.batch_id)
    if safe != batch.batch_id:
        safe += "-" + hashlib.sha256(batch.batch_id.encode("utf-8")).hexdigest()[:12]
    return f"msg-{safe}"


def reusable_job(queue: Queue, jid: str, *, keep_finished: bool = False) -> Job | None:
    """The job ``jid`` if it is queued, scheduled or running (or, with
    ``keep_finished``, finished): enqueueing it again would double it. None when
    Redis has no such job or it ended otherwise, so it is to be enqueued afresh.
    """
    done = ("failed", "canceled", "stopped") + (() if keep_finished else ("finished",))
    try:
        existing = Job.fetch(jid, connection=queue.connection, serializer=queue.serializer)
        return None if existing.get_status(refresh=True) in done else existing
    except Exception:  # NoSuchJobError, or an unreadable leftover: enqueue afresh
        return None


def enqueue_batch(
    queue: Queue,
    batch: MessageBatch,
    *,
    at: dt.datetime | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    clock: Clock | None = None,
    keep_finished: bool = False,
) -> Job:
    """Schedule ``batch`` at ``at`` (default: its slot start; now if that has passed).

    A job with the same id already queued, scheduled or running is returned as
    is; with ``keep_finished`` (a resync looking for jobs Redis lost) so is one
    that finished: it did its work, and what it left unsent (refused, dropped,
    waiting in a rescheduled part) a rerun would only refuse again.
    """
    jid = job_id(batch)
    existing = reusable_job(queue, jid, keep_finished=keep_finished)
    if existing is not None:
        return existing
    when = at or batch.slot_start
    options: dict[str, Any] = {
        "job_id": jid,
        "failure_ttl": FAILURE_TTL_S,
        "result_ttl": RESULT_TTL_S,
        "job_timeout": JOB_TIMEOUT_S,
        "retry": retry,
        "description": f"{batch.channel} batch {batch.batch_id} ({len(batch.messages)} messages)",
    }
    # Slots are in the campaign's (possibly compressed) time; RQ schedules in real time.
    real_when = (clock or Clock()).to_real(when)
    if real_when > dt.datetime.now(dt.UTC):
        return queue.enqueue_at(real_when, JOB_FUNC, batch.to_payload(), **options)
    return queue.enqueue(JOB_FUNC, batch.to_payload(), **options)


def send_batch_job(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: run one batch; raise ``TransientSendFailure`` to have RQ retry the rest."""
    job = get_current_job()
    rt = runtime_from_env()
    batch = MessageBatch.from_payload(payload)
    not_sent = set(job.meta.get("not_sent", [])) if job is not None else set()
    last_try = job is None or not job.retries_left
    queue = rq_queue(job.origin, connection=job.connection) if job is not None else None

    def reschedule(sub: MessageBatch, at: dt.datetime) -> None:
        target = queue or message_queue(rt.settings)
        enqueue_batch(target, sub, at=at, clock=rt.clock)

    report, retry = process_batch(
        rt,
        batch,
        now=rt.clock.now(),
        not_sent=not_sent,
        last_try=last_try,
        reschedule=reschedule,
    )
    log.info("batch %s: %s", batch.batch_id, report.as_dict())
    if retry:
        if job is not None:
            # Kept in Redis with the job: the next run resends exactly these.
            # If this meta were lost, they would be treated as ambiguous (never
            # resent blindly), so losing it costs a message, never a duplicate.
            job.meta["not_sent"] = sorted(retry)
            job.save_meta()
        raise TransientSendFailure(
            f"batch {batch.batch_id}: {len(retry)} messages met transient provider errors; "
            f"report so far {report.as_dict()}"
        )
    return report.as_dict()
