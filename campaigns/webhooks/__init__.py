"""The webhook receiver (``cadencia webhooks``): provider events into the contact ledger."""

from campaigns.webhooks.app import create_webhook_app, sendgrid_outcome
from campaigns.webhooks.record import (
    OutcomeEvent,
    RecordSummary,
    mark_unreachable,
    record_opt_out,
    record_outcome_events,
)

__all__ = [
    "OutcomeEvent",
    "RecordSummary",
    "create_webhook_app",
    "mark_unreachable",
    "record_opt_out",
    "record_outcome_events",
    "sendgrid_outcome",
]
