"""Signed, expiring tokens for self-service links (payment, opt-out).

A token is ``base64url(claims JSON) "." base64url(HMAC-SHA256)``: the web
page that receives it can tell, without a database, which customer and
campaign it is for, that we issued it, and whether it is still valid. Pure:
the current time is always passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from channels.errors import LinkTokenError
from channels.settings import PaymentLinkSettings


@dataclass(frozen=True)
class LinkClaims:
    """What a verified token says."""

    subject: str
    purpose: str
    campaign: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest()


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


def sign_token(
    secret: str, *, subject: str, purpose: str, campaign: str, expires_at: datetime
) -> str:
    """A URL-safe token binding ``subject`` (a customer id) to a purpose until ``expires_at``."""
    if not secret:
        raise ValueError("link secret is empty")
    expiry = int(_aware(expires_at, "expires_at").timestamp())
    claims = {"s": subject, "p": purpose, "c": campaign, "e": expiry}
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{payload}.{_b64(_mac(secret, payload))}"


def verify_token(secret: str, token: str, *, purpose: str, now: datetime) -> LinkClaims:
    """Check a token's signature, purpose and expiry; return its claims.

    Raises ``LinkTokenError`` saying which check failed.
    """
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise LinkTokenError("link token is malformed: expected '<payload>.<signature>'")
    try:
        given = _unb64(signature)
    except (ValueError, TypeError):
        raise LinkTokenError("link token signature is not base64url") from None
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise LinkTokenError("link token signature does not match (forged or wrong secret)")
    try:
        claims = json.loads(_unb64(payload))
        subject, token_purpose = str(claims["s"]), str(claims["p"])
        campaign, expiry = str(claims["c"]), int(claims["e"])
    except (ValueError, KeyError, TypeError):
        raise LinkTokenError("link token payload is not valid claims JSON") from None
    if token_purpose != purpose:
        raise LinkTokenError(f"link token is for {token_purpose!r}, not {purpose!r}")
    expires_at = datetime.fromtimestamp(expiry, tz=UTC)
    if _aware(now, "now") >= expires_at:
        raise LinkTokenError(f"link token expired at {expires_at.isoformat()}")
    return LinkClaims(
        subject=subject, purpose=token_purpose, campaign=campaign, expires_at=expires_at
    )


def build_link(url_pattern: str, token: str) -> str:
    """Put ``token`` into the pattern's ``{token}`` placeholder (no other formatting)."""
    if "{token}" not in url_pattern:
        raise ValueError(f"URL pattern {url_pattern!r} has no {{token}} placeholder")
    return url_pattern.replace("{token}", token)


def payment_link(
    settings: PaymentLinkSettings, *, customer_id: str, campaign: str, now: datetime
) -> str:
    """The self-service payment URL for one customer, valid ``settings.ttl_hours`` from ``now``."""
    token = sign_token(
        settings.secret,
        subject=customer_id,
        purpose="pay",
        campaign=campaign,
        expires_at=_aware(now, "now") + timedelta(hours=settings.ttl_hours),
    )
    return build_link(settings.url_pattern, token)


def verify_payment_token(settings: PaymentLinkSettings, token: str, *, now: datetime) -> LinkClaims:
    """Verify a token taken from a payment link built by :func:`payment_link`."""
    return verify_token(settings.secret, token, purpose="pay", now=now)
