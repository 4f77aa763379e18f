"""The webhook receiver: SendGrid, Twilio and Stripe events, inbound messages, signed payments.

Every request's body is capped before it is read (413 past the limit), and
verified before anything in it is interpreted (SendGrid: ECDSA over
timestamp + raw body within a replay window; Twilio: ``X-Twilio-Signature``
over the public URL and the form). A rejected request gets 401 (unsigned),
403 (bad signature or replayed) or 400 (malformed) and changes nothing.
Database work runs in the thread pool, never on the event loop.

This module assembles the app; the routes live one module per provider
(``sendgrid_routes``, ``twilio_routes``, ``payment_routes``, ``stripe_routes``: the
portal's payments confirmed by Stripe) and share a ``WebhookContext``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from campaigns.clock import Clock
from campaigns.settings import ConfigError, MessagingSettings
from campaigns.webhooks.context import REJECT_STATUS, WebhookContext
from campaigns.webhooks.payment_routes import register as add_payment_routes
from campaigns.webhooks.sendgrid_routes import register as add_sendgrid_routes
from campaigns.webhooks.sendgrid_routes import sendgrid_outcome
from campaigns.webhooks.stripe_routes import register as add_stripe_routes
from campaigns.webhooks.twilio_routes import EMPTY_TWIML, TWILIO_OUTCOMES
from campaigns.webhooks.twilio_routes import register as add_twilio_routes
from channels import load_public_key

# Names this module has always offered, now defined beside the routes that use them.
__all__ = [
    "EMPTY_TWIML",
    "REJECT_STATUS",
    "TWILIO_OUTCOMES",
    "create_webhook_app",
    "sendgrid_outcome",
]


# Liveness: the app is up. A comment, not a docstring, which FastAPI would
# publish as the route's OpenAPI description.
async def _health() -> dict[str, str]:
    return {"status": "ok"}


def create_webhook_app(
    settings: MessagingSettings,
    engine: Engine,
    *,
    clock: Callable[[], float] = time.time,
    event_clock: Clock | None = None,
) -> FastAPI:
    """The ASGI app behind ``cadencia webhooks``; routes under ``/webhooks/``.

    ``settings.webhook_base_url`` is the public URL Twilio calls (its
    signatures cover it): required when Twilio is configured (``ConfigError``). ``clock``
    is the real time signatures are checked against; ``event_clock`` stamps
    ledger events (the shared clock by default).
    """
    if settings.channels.twilio is not None and not settings.webhook_base_url:
        # Twilio signs the URL it called; rebuilding it from the request's Host
        # header would let the caller choose what the signature is checked against.
        raise ConfigError(
            "CADENCIA_WEBHOOK_BASE_URL is required when Twilio is configured: Twilio's "
            "signatures cover the public URL it calls, e.g. https://hooks.example.com"
        )
    app = FastAPI(title="Cadencia webhooks", docs_url=None, redoc_url=None)
    sg = settings.channels.sendgrid
    app.state.webhooks = WebhookContext(
        settings=settings,
        engine=engine,
        clock=clock,
        stamps=event_clock or Clock(),
        # Loaded once here, so a bad key fails at start-up rather than per request.
        sendgrid_key=(
            load_public_key(sg.webhook_public_key) if sg and sg.webhook_public_key else None
        ),
        twilio=settings.channels.twilio,
    )
    app.get("/webhooks/health", name="health")(_health)
    add_sendgrid_routes(app)
    add_twilio_routes(app)
    add_payment_routes(app)
    add_stripe_routes(app)
    return app
