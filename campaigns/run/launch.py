"""The execution step a run's dispatch uses: message batches and dial sessions on RQ queues.

``advance`` takes its dispatch step from the composition root; the CLI and
the console build it here, so a plan launched from either lands on the same
queues the same way.
"""

from __future__ import annotations

from redis import Redis

from campaigns.clock import Clock
from campaigns.dialing import voice_dispatcher
from campaigns.queues import rq_queue
from campaigns.run.execute import execution_step
from campaigns.run.state import Step
from campaigns.settings import DEFAULT_DIAL_QUEUE, DEFAULT_MESSAGE_QUEUE


def queued_step(
    redis: Redis,
    *,
    clock: Clock | None = None,
    message_queue: str = DEFAULT_MESSAGE_QUEUE,
    dial_queue: str = DEFAULT_DIAL_QUEUE,
) -> Step:
    """Dispatch message batches and voice slots' dial sessions to the queues on ``redis``.

    ``redis`` must return bytes (RQ's compressed JSON jobs), as ``Redis.from_url`` does.
    """
    return execution_step(
        rq_queue(message_queue, connection=redis),
        voice=voice_dispatcher(rq_queue(dial_queue, connection=redis), clock=clock),
        clock=clock,
    )
