"""``POST /webhooks/stripe``: Stripe's signed events about the portal's payments.

The body is capped before it is read whole (413), then verified with
Stripe's official SDK (``stripe.Webhook.construct_event``: the
``Stripe-Signature`` HMAC over ``<t>.<raw body>`` with the endpoint's
signing secret, at most 300 seconds old); a bad or stale signature is a 400
and records nothing. A paid ``checkout.session.completed`` is recorded once
through the payments path (``campaigns.portal.payments.confirm_checkout``);
every other event is acknowledged (200) and ignored. Database work runs in
the thread pool.
"""

from __future__ import annotations

from typing import Any

import stripe
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from campaigns.payments.record import PaymentsRejected
from campaigns.portal.payments import confirm_checkout
from campaigns.webhooks.context import BodyTooLarge, capped_body, log, too_large, webhook_context

# Stripe's events are small (a Checkout Session is a few KB); 256 KiB is plenty.
MAX_STRIPE_BODY_BYTES = 256 * 1024
TOLERANCE_S = 300


# Verify and handle one Stripe event (comments, not docstrings: FastAPI would publish them).
async def _receive_stripe(request: Request) -> JSONResponse | dict[str, Any]:
    context = webhook_context(request)
    secret = context.settings.stripe_webhook_secret
    if not secret:
        return JSONResponse(
            {"error": "CADENCIA_STRIPE_WEBHOOK_SECRET is not configured; refusing events"},
            status_code=503,
        )
    try:
        body = await capped_body(request, MAX_STRIPE_BODY_BYTES)
    except BodyTooLarge as exc:
        return too_large(exc)
    try:
        event = stripe.Webhook.construct_event(
            body.decode("utf-8"), request.headers.get("stripe-signature"), secret,
            tolerance=TOLERANCE_S,
        )  # fmt: skip
    except (stripe.SignatureVerificationError, ValueError) as exc:
        log.warning("rejected stripe webhook: %s", exc)
        return JSONResponse({"error": f"bad signature or body: {exc}"}, status_code=400)
    session = event.data.object.to_dict() if event.type.startswith("checkout.session.") else {}
    try:
        outcome = await run_in_threadpool(
            confirm_checkout, context.engine, processor="stripe", event_id=event.id,
            kind=event.type, session=session, now=context.stamps.now(),
        )  # fmt: skip
    except PaymentsRejected as exc:
        # Nothing recorded, the event not kept: Stripe retries it once this is fixed.
        log.error("stripe event %s not recorded: %s", event.id, exc)
        return JSONResponse({"error": "not recorded", "errors": exc.errors}, status_code=500)
    return {"received": event.id, "outcome": outcome}


def register(app: FastAPI) -> None:
    """Add the Stripe route to ``app``."""
    app.post("/webhooks/stripe", response_model=None, name="stripe")(_receive_stripe)
