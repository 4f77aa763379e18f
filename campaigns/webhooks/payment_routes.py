"""``POST /webhooks/payments``: the bank's core system or processor posts payments, signed.

The body's size is capped before it is read (413), the signature checked
before it is parsed (``campaigns.payments.signature``: unsigned, unknown key,
bad MAC or stale, all 401), the payments validated like a file's rows (422,
each error named, nothing recorded), then recorded once per reference in the
thread pool. A replayed or retried request counts once.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from campaigns.payments.record import PaymentsRejected, record_payments
from campaigns.payments.signature import (
    HEADER,
    MAX_BODY_BYTES,
    SignatureRejected,
    parse_api_body,
    verify,
)
from campaigns.webhooks.context import BodyTooLarge, capped_body, log, too_large, webhook_context


# Record a signed batch of payments (comments, not docstrings: FastAPI would publish them).
async def _receive_payments(request: Request) -> JSONResponse | dict[str, Any]:
    context = webhook_context(request)
    if not context.settings.payment_keys:
        return JSONResponse(
            {"error": "CADENCIA_PAYMENTS_KEYS is not configured; refusing payments"},
            status_code=503,
        )
    try:
        body = await capped_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        return too_large(exc)
    try:
        key_id = verify(
            request.headers.get(HEADER), body, context.settings.payment_keys, now=context.clock()
        )
    except SignatureRejected as exc:
        log.warning("rejected payments request: %s", exc)
        return JSONResponse({"error": str(exc)}, status_code=401)
    parsed = parse_api_body(body, "payments")
    if parsed.errors:
        return JSONResponse({"errors": parsed.errors}, status_code=422)
    try:
        summary = await run_in_threadpool(
            record_payments,
            context.engine,
            parsed.payments,
            source=f"api:{key_id}"[:20],
            now=context.stamps.now(),
            name="payments",
        )
    except PaymentsRejected as exc:
        return JSONResponse({"errors": exc.errors}, status_code=422)
    return summary.as_dict()


def register(app: FastAPI) -> None:
    """Add the payments route to ``app``."""
    app.post("/webhooks/payments", response_model=None, name="payments")(_receive_payments)
