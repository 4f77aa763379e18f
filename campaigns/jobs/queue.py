"""Alias of the message-batch job at its old path (see ``campaigns.jobs``)."""

from campaigns.messaging.queue import send_batch_job

__all__ = ["send_batch_job"]
