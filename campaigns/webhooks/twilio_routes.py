"""Twilio's status callbacks and inbound messages (SMS, WhatsApp) into the ledger.

A request is verified (``X-Twilio-Signature`` over the public URL and the
form) before any of it is read; then it is recorded in the thread pool, never
on the event loop.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from campaigns.webhooks.context import (
    BodyTooLarge,
    WebhookContext,
    capped_body,
    public_url,
    rejected,
    too_large,
    webhook_context,
)
from campaigns.webhooks.record import (
    OutcomeEvent,
    RecordSummary,
    latest_attempt_to,
    mark_unreachable,
    record_opt_in,
    record_opt_out,
    record_outcome_events,
)
from channels import (
    InboundMessage,
    MessageStatusEvent,
    WebhookRejected,
    verified_inbound,
    verified_status_callback,
)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TWILIO_OUTCOMES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}


async def _form(request: Request) -> dict[str, str]:
    body = (await capped_body(request)).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


# Route endpoints carry comments, not docstrings: FastAPI would publish a
# docstring as the route's OpenAPI description.


# Verify a status callback, then record the outcome it settles (503 without Twilio).
async def _receive_status(request: Request) -> JSONResponse | dict[str, Any]:
    context = webhook_context(request)
    if context.twilio is None:
        return JSONResponse({"error": "Twilio is not configured"}, status_code=503)
    try:
        params = await _form(request)
    except BodyTooLarge as exc:
        return too_large(exc)
    try:
        event = verified_status_callback(
            context.twilio.auth_token, public_url(context, request), params, request.headers
        )
    except WebhookRejected as exc:
        return rejected(exc)
    # The attempt id rides in the callback URL we gave Twilio (signed with it).
    attempt = parse_qs(request.url.query).get("attempt", [None])[0]
    return vars(await run_in_threadpool(record_twilio_status, context, event, attempt))


# Verify an inbound message, then record it as an opt-out or a reply (503 without Twilio).
async def _receive_inbound(request: Request) -> Response:
    context = webhook_context(request)
    if context.twilio is None:
        return JSONResponse({"error": "Twilio is not configured"}, status_code=503)
    try:
        params = await _form(request)
    except BodyTooLarge as exc:
        return too_large(exc)
    try:
        message = verified_inbound(
            context.twilio.auth_token, public_url(context, request), params, request.headers
        )
    except WebhookRejected as exc:
        return rejected(exc)
    summary = await run_in_threadpool(record_twilio_inbound, context, message)
    # Twilio wants TwiML back; an empty <Response/> sends no auto-reply
    # (Twilio itself answers STOP with its compliance message).
    return Response(
        EMPTY_TWIML,
        media_type="text/xml",
        headers={"X-Cadencia-Recorded": str(summary.recorded)},
    )


def record_twilio_status(
    context: WebhookContext, event: MessageStatusEvent, attempt: str | None
) -> RecordSummary:
    """Record the outcome a final status settles; mark a dead number unreachable."""
    now = context.stamps.now()
    outcome = TWILIO_OUTCOMES.get(event.status)
    if outcome is None:
        return RecordSummary()  # queued, sending, accepted: nothing settled yet
    # 21610 is the recipient's own STOP: an opt-out, not a dead number.
    if event.permanent_failure and event.error_code != "21610":
        mark_unreachable(context.engine, event.channel, event.to, at=now)
    if attempt is None or not attempt.isdigit():
        return RecordSummary(unknown=1)
    extra: dict[str, Any] = {"provider": "twilio", "sid": event.message_sid}
    if event.error_code:
        extra["error_code"] = event.error_code
    return record_outcome_events(
        context.engine, [OutcomeEvent(int(attempt), outcome, event.event_key, now, extra)], now=now
    )


def record_twilio_inbound(context: WebhookContext, message: InboundMessage) -> RecordSummary:
    """Record an inbound message: an opt-out, a START after a STOP, or a reply to us."""
    now = context.stamps.now()
    opt_out = message.opt_out()
    if opt_out is not None:
        return record_opt_out(context.engine, opt_out, at=now, now=now)
    opt_in = message.opt_in()
    if opt_in is not None:
        return record_opt_in(context.engine, opt_in, at=now, now=now)
    attempt = latest_attempt_to(context.engine, message.channel, message.contact)
    if attempt is None:
        return RecordSummary(unknown=1)
    extra = {"provider": "twilio", "sid": message.message_sid, "intent": message.intent}
    if message.body:
        extra["text"] = message.body[:160]  # what the customer wrote, as opt-outs keep it
    return record_outcome_events(
        context.engine,
        [OutcomeEvent(attempt, "replied", message.event_key, now, extra)],
        now=now,
    )


def register(app: FastAPI) -> None:
    """Add the Twilio routes to ``app`` (whose state holds a ``WebhookContext``)."""
    # ``name`` keeps each route's name, and so its OpenAPI operation id, as it always was.
    app.post("/webhooks/twilio/status", response_model=None, name="status")(_receive_status)
    app.post("/webhooks/twilio/inbound", response_model=None, name="inbound")(_receive_inbound)
