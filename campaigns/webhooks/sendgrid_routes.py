"""SendGrid's Event Webhook: delivery events and unsubscribes into the ledger.

A request's body is capped (1 MiB) before it is read and verified (ECDSA over
timestamp + raw body, within a replay window) before any of it is parsed; an
entry that is not a usable event is set aside and logged while the rest of
the batch is recorded, in the thread pool, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from campaigns.webhooks.context import (
    BodyTooLarge,
    WebhookContext,
    capped_body,
    log,
    rejected,
    too_large,
    webhook_context,
)
from campaigns.webhooks.record import (
    OutcomeEvent,
    RecordSummary,
    mark_unreachable,
    record_opt_out,
    record_outcome_events,
)
from channels import EmailEvent, WebhookRejected, verified_sendgrid_batch


def sendgrid_outcome(event: EmailEvent) -> str | None:
    """The ledger outcome a SendGrid event means, if any (opens and clicks mean none)."""
    if event.event == "delivered":
        return "delivered"
    if event.event == "dropped":
        return "bounced"
    if event.event == "bounce":
        # A "blocked" bounce is the receiving server refusing for now, not a dead address.
        return "failed" if event.bounce_type == "blocked" else "bounced"
    return None


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# Route endpoints carry comments, not docstrings: FastAPI would publish a
# docstring as the route's OpenAPI description.


# Verify a batch of SendGrid events, then record them (503 without a verification key).
async def _receive_events(request: Request) -> JSONResponse | dict[str, Any]:
    context = webhook_context(request)
    if context.sendgrid_key is None:
        return JSONResponse(
            {"error": "SENDGRID_WEBHOOK_PUBLIC_KEY is not configured; refusing unverified "
             "events"}, status_code=503,
        )  # fmt: skip
    try:
        body = await capped_body(request)
    except BodyTooLarge as exc:
        return too_large(exc)
    try:
        batch = verified_sendgrid_batch(
            context.sendgrid_key, request.headers, body, now=context.clock()
        )
    except WebhookRejected as exc:
        return rejected(exc)
    for entry in batch.set_aside:
        # Logged by position and reason only: an entry may carry an address.
        log.warning("sendgrid event #%s set aside: %s", entry.index, entry.reason)
    summary = await run_in_threadpool(record_sendgrid_events, context, batch.events)
    return {**vars(summary), "set_aside": len(batch.set_aside)}


def record_sendgrid_events(
    context: WebhookContext, events: tuple[EmailEvent, ...]
) -> RecordSummary:
    """Record verified events: opt-outs, bounced addresses, and outcomes of our attempts."""
    engine = context.engine
    now = context.stamps.now()
    summary = RecordSummary()
    outcomes: list[OutcomeEvent] = []
    for e in events:
        at = now
        opt_out = e.opt_out()
        if opt_out is not None:
            summary.merge(record_opt_out(engine, opt_out, at=at, now=now))
        outcome = sendgrid_outcome(e)
        if outcome is None:
            continue
        if outcome == "bounced":
            mark_unreachable(engine, "email", e.email, at=at)
        attempt = e.attempt_id
        if attempt is None or not attempt.isdigit():
            summary.unknown += 1
            continue
        outcomes.append(
            OutcomeEvent(int(attempt), outcome, f"sendgrid:{e.sg_event_id}", at, _extra(e))
        )
    summary.merge(record_outcome_events(engine, outcomes, now=now))
    return summary


def _extra(event: EmailEvent) -> dict[str, Any]:
    """What an outcome row keeps of a SendGrid event."""
    extra = {
        "provider": "sendgrid",
        "event": event.event,
        "sg_event_id": event.sg_event_id,
        "provider_at": _utc(event.timestamp).isoformat(),
    }
    if event.reason:
        extra["reason"] = event.reason[:300]
    return extra


def register(app: FastAPI) -> None:
    """Add the SendGrid routes to ``app`` (whose state holds a ``WebhookContext``)."""
    # ``name`` keeps the route's name, and so its OpenAPI operation id, as it always was.
    app.post("/webhooks/sendgrid", response_model=None, name="sendgrid")(_receive_events)
