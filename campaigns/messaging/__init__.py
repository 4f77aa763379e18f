"""Message delivery through RQ workers: batches of planned emails and texts.

``enqueue_batch`` schedules a batch for its slot; workers run
``send_batch_job``, which renders, guards (fail closed), reserves, sends
through SendGrid or Twilio and records every outcome in the contact ledger,
sending nothing twice when a job is retried or recovered after a crash.
"""

from campaigns.messaging.batch import BatchReport, Runtime, process_batch, record_outcomes
from campaigns.messaging.plan import BatchError, MessageBatch, PlannedMessage
from campaigns.messaging.queue import (
    DEFAULT_RETRY,
    FAILURE_TTL_S,
    RESULT_TTL_S,
    TransientSendFailure,
    build_runtime,
    enqueue_batch,
    job_id,
    message_queue,
    send_batch_job,
)
from campaigns.settings import MessagingSettings, Senders

__all__ = [
    "DEFAULT_RETRY",
    "FAILURE_TTL_S",
    "RESULT_TTL_S",
    "BatchError",
    "BatchReport",
    "MessageBatch",
    "MessagingSettings",
    "PlannedMessage",
    "Runtime",
    "Senders",
    "TransientSendFailure",
    "build_runtime",
    "enqueue_batch",
    "job_id",
    "message_queue",
    "process_batch",
    "record_outcomes",
    "send_batch_job",
]
