"""The webhook receiver: SendGrid Event Webhook, Twilio status callbacks and inbound messages.

Every request is verified before anything in it is read (SendGrid: ECDSA over
timestamp + raw body within a replay window; Twilio: ``X-Twilio-Signature``
over the public URL and the form). A rejected request gets 401 (unsigned),
403 (bad signature or replayed) or 400 (malformed) and changes nothing.
Database work runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from campaigns.clock import Clock
from campaigns.settings import MessagingSettings
from campaigns.webhooks.record import (
    OutcomeEvent,
    RecordSummary,
    latest_attempt_to,
    mark_unreachable,
    record_opt_out,
    record_outcome_events,
)
from channels import (
    EmailEvent,
    InboundMessage,
    MessageStatusEvent,
    WebhookRejected,
    load_public_key,
    verified_inbound,
    verified_sendgrid_events,
    verified_status_callback,
)

log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
REJECT_STATUS = {"missing-signature": 401, "bad-signature": 403, "expired": 403, "malformed": 400}
TWILIO_OUTCOMES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


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


def _rejected(exc: WebhookRejected) -> JSONResponse:
    log.warning("rejected %s webhook: %s", exc.provider, exc)
    return JSONResponse(
        {"error": str(exc), "reason": exc.reason}, status_code=REJECT_STATUS.get(exc.reason, 403)
    )


def create_webhook_app(
    settings: MessagingSettings,
    engine: Engine,
    *,
    clock: Callable[[], float] = time.time,
    event_clock: Clock | None = None,
) -> FastAPI:
    """The ASGI app behind ``cadencia webhooks``; routes under ``/webhooks/``.

    ``settings.webhook_base_url`` is the public URL Twilio calls (its
    signatures cover it); without it the URL the app sees is used.
    """
    app = FastAPI(title="Cadencia webhooks", docs_url=None, redoc_url=None)
    # Signatures are checked against real time (``clock``); ledger events are
    # stamped on arrival by the shared clock, which a compressed day runs ahead,
    # so an opt-out can never seem to precede the message it answered.
    stamps = event_clock or Clock()
    sg = settings.channels.sendgrid
    public_key = load_public_key(sg.webhook_public_key) if sg and sg.webhook_public_key else None
    twilio = settings.channels.twilio

    def public_url(request: Request) -> str:
        if not settings.webhook_base_url:
            return str(request.url)
        query = request.url.query
        return settings.webhook_base_url + request.url.path + (f"?{query}" if query else "")

    def sendgrid_events(events: tuple[EmailEvent, ...]) -> RecordSummary:
        now = stamps.now()
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
            extra = {
                "provider": "sendgrid",
                "event": e.event,
                "sg_event_id": e.sg_event_id,
                "provider_at": _utc(e.timestamp).isoformat(),
            }
            if e.reason:
                extra["reason"] = e.reason[:300]
            outcomes.append(
                OutcomeEvent(int(attempt), outcome, f"sendgrid:{e.sg_event_id}", at, extra)
            )
        summary.merge(record_outcome_events(engine, outcomes, now=now))
        return summary

    def twilio_status(event: MessageStatusEvent, attempt: str | None) -> RecordSummary:
        now = stamps.now()
        outcome = TWILIO_OUTCOMES.get(event.status)
        if outcome is None:
            return RecordSummary()  # queued, sending, accepted: nothing settled yet
        if event.permanent_failure and event.error_code != "21610":
            mark_unreachable(engine, event.channel, event.to, at=now)
        if attempt is None or not attempt.isdigit():
            return RecordSummary(unknown=1)
        extra: dict[str, Any] = {"provider": "twilio", "sid": event.message_sid}
        if event.error_code:
            extra["error_code"] = event.error_code
        return record_outcome_events(
            engine, [OutcomeEvent(int(attempt), outcome, event.event_key, now, extra)], now=now
        )

    def twilio_inbound(message: InboundMessage) -> RecordSummary:
        now = stamps.now()
        opt_out = message.opt_out()
        if opt_out is not None:
            return record_opt_out(engine, opt_out, at=now, now=now)
        attempt = latest_attempt_to(engine, message.channel, message.contact)
        if attempt is None:
            return RecordSummary(unknown=1)
        extra = {"provider": "twilio", "sid": message.message_sid, "intent": message.intent}
        return record_outcome_events(
            engine, [OutcomeEvent(attempt, "replied", message.event_key, now, extra)], now=now
        )

    @app.get("/webhooks/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/sendgrid", response_model=None)
    async def sendgrid(request: Request) -> JSONResponse | dict[str, Any]:
        if public_key is None:
            return JSONResponse(
                {"error": "SENDGRID_WEBHOOK_PUBLIC_KEY is not configured; refusing unverified "
                 "events"}, status_code=503,
            )  # fmt: skip
        body = await request.body()
        try:
            events = verified_sendgrid_events(public_key, request.headers, body, now=clock())
        except WebhookRejected as exc:
            return _rejected(exc)
        return vars(await run_in_threadpool(sendgrid_events, events))

    async def twilio_form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        return dict(parse_qsl(body, keep_blank_values=True))

    @app.post("/webhooks/twilio/status", response_model=None)
    async def status(request: Request) -> JSONResponse | dict[str, Any]:
        if twilio is None:
            return JSONResponse({"error": "Twilio is not configured"}, status_code=503)
        params = await twilio_form(request)
        try:
            event = verified_status_callback(
                twilio.auth_token, public_url(request), params, request.headers
            )
        except WebhookRejected as exc:
            return _rejected(exc)
        attempt = parse_qs(request.url.query).get("attempt", [None])[0]
        return vars(await run_in_threadpool(twilio_status, event, attempt))

    @app.post("/webhooks/twilio/inbound", response_model=None)
    async def inbound(request: Request) -> Response:
        if twilio is None:
            return JSONResponse({"error": "Twilio is not configured"}, status_code=503)
        params = await twilio_form(request)
        try:
            message = verified_inbound(
                twilio.auth_token, public_url(request), params, request.headers
            )
        except WebhookRejected as exc:
            return _rejected(exc)
        summary = await run_in_threadpool(twilio_inbound, message)
        # Twilio wants TwiML back; an empty <Response/> sends no auto-reply
        # (Twilio itself answers STOP with its compliance message).
        return Response(
            EMPTY_TWIML,
            media_type="text/xml",
            headers={"X-Cadencia-Recorded": str(summary.recorded)},
        )

    return app
