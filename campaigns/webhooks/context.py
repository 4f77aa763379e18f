"""What the webhook routes share: the app's wiring, signature rejections, the public URL.

``create_webhook_app`` builds one ``WebhookContext`` and keeps it on the app's
state; each route reads it back with ``webhook_context``. The provider route
modules (``sendgrid_routes``, ``twilio_routes``) need nothing else from the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from campaigns.clock import Clock
from campaigns.settings import MessagingSettings
from channels import TwilioSettings, WebhookRejected

# The name the rejections were always logged under, which log filters may select on.
log = logging.getLogger("campaigns.webhooks.app")
REJECT_STATUS = {"missing-signature": 401, "bad-signature": 403, "expired": 403, "malformed": 400}
# A provider's batch is far smaller (SendGrid posts at most about 1,000 events,
# some 768 KB); anything larger is refused before it is read, so a client on
# the published port cannot make the receiver buffer what it likes.
MAX_PROVIDER_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """The request's body is over the route's limit (answered 413, nothing read past it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


async def capped_body(request: Request, limit: int = MAX_PROVIDER_BODY_BYTES) -> bytes:
    """The raw body, refusing more than ``limit`` bytes whatever Content-Length says."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def too_large(exc: BodyTooLarge) -> JSONResponse:
    """The 413 answer to a body over its limit, logged."""
    log.warning("refused a webhook body over %s bytes", exc.limit)
    return JSONResponse({"error": str(exc)}, status_code=413)


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """The wiring every route reads, fixed when the app is created."""

    settings: MessagingSettings
    engine: Engine
    # Signatures are checked against real time (``clock``); ledger events are
    # stamped on arrival by the shared clock (``stamps``), which a compressed
    # day runs ahead, so an opt-out can never seem to precede the message it answered.
    clock: Callable[[], float]
    stamps: Clock
    sendgrid_key: ec.EllipticCurvePublicKey | None  # None: SendGrid events are refused
    twilio: TwilioSettings | None  # None: Twilio callbacks are refused


def webhook_context(request: Request) -> WebhookContext:
    """The context ``create_webhook_app`` stored on the app serving ``request``."""
    context: WebhookContext = request.app.state.webhooks
    return context


def public_url(context: WebhookContext, request: Request) -> str:
    """The URL the provider called and signed: the path and query under ``webhook_base_url``.

    Never rebuilt from the request's Host header, which the caller chooses:
    ``create_webhook_app`` refuses to start Twilio routes without a base URL.
    """
    base = context.settings.webhook_base_url
    if not base:
        raise RuntimeError("public_url: no webhook_base_url (create_webhook_app requires one)")
    query = request.url.query
    return base + request.url.path + (f"?{query}" if query else "")


def rejected(exc: WebhookRejected) -> JSONResponse:
    """The response to a request that failed verification: 401, 403 or 400, logged."""
    log.warning("rejected %s webhook: %s", exc.provider, exc)
    return JSONResponse(
        {"error": str(exc), "reason": exc.reason}, status_code=REJECT_STATUS.get(exc.reason, 403)
    )
