"""The signed payments API: who may post payments, and proof the body is theirs and fresh.

The bank's core system or payment processor signs each request::

    X-Cadencia-Signature: keyId=<key id>,t=<unix seconds>,v1=<hex HMAC-SHA256>

where the MAC, keyed with that key id's secret, is over ``"<t>." + raw body``.
A request is accepted only when the key id is known, the signature matches
(compared in constant time), and ``t`` is within ``REPLAY_WINDOW_S`` of our
clock, so a captured request cannot be replayed later; a replay inside the
window changes nothing, since payments are idempotent on their reference.
Several key ids let a key be rotated without downtime.

The body is JSON: ``{"payments": [{"account_id", "amount", "currency",
"paid_at", "reference", "channel"?, "method"?}, …]}``; amounts are strings
(``"150000.50"``) or JSON numbers, read exactly (never through a float).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal

from campaigns.payments.file import PaymentsFile, read_payment

HEADER = "X-Cadencia-Signature"
REPLAY_WINDOW_S = 300
MAX_BODY_BYTES = 256 * 1024
MAX_PAYMENTS = 1000


class SignatureRejected(ValueError):
    """The request is not signed by a known key, or not fresh; the message says which."""


def sign(secret: str, key_id: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` (for the payer's side, and tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"keyId={key_id},t={timestamp},v1={mac.hexdigest()}"


def verify(header: str | None, body: bytes, keys: Mapping[str, str], *, now: float) -> str:
    """The key id that signed ``body``; raises ``SignatureRejected`` otherwise."""
    if not header:
        raise SignatureRejected(f"missing {HEADER} header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    key_id, stamp, given = parts.get("keyId", ""), parts.get("t", ""), parts.get("v1", "")
    secret = keys.get(key_id)
    if secret is None:
        raise SignatureRejected(f"unknown key id {key_id[:40]!r}")
    if not stamp.isdigit():
        raise SignatureRejected("the signature's timestamp t is not a number")
    if abs(now - int(stamp)) > REPLAY_WINDOW_S:
        raise SignatureRejected(
            f"the signature's time is more than {REPLAY_WINDOW_S} s from ours (stale or replayed)"
        )
    expected = sign(secret, key_id, int(stamp), body).rsplit("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureRejected("the signature does not match the body")
    return key_id


def parse_api_body(body: bytes, name: str) -> PaymentsFile:
    """The payments of a signed request, validated as a file's rows are (``name:N: field``)."""
    result = PaymentsFile(name)
    try:
        doc = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        result.error(0, "body", f"not JSON: {exc}")
        return result
    items = doc.get("payments") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        result.error(0, "payments", "expected a non-empty list under 'payments'")
        return result
    if len(items) > MAX_PAYMENTS:
        result.error(0, "payments", f"at most {MAX_PAYMENTS} payments per request")
        return result
    seen: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            fields = {str(k): str(v) for k, v in item.items() if v is not None}
            read_payment(result, number, fields, seen)
        else:
            result.error(number, "payment", "expected an object")
    return result
