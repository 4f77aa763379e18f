"""Stripe's wire format, as much of it as the Checkout stand-in speaks.

Requests are form-encoded with Stripe's bracket notation
(``line_items[0][price_data][currency]=cop``), answers are Stripe's JSON
objects (``checkout.session``, ``event``) and its error shape (``{"error":
{"type", "message", "param", "code"}}``), and webhook events are signed as
Stripe signs them: ``Stripe-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256(secret, "<t>.<raw body>")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

API_VERSION = "2025-09-30.clover"
KEY_RE = re.compile(r"\[([^\]]*)\]")
SESSION_TTL_S = 24 * 3600


def decode_form(body: bytes) -> dict[str, Any]:
    """A form body in Stripe's bracket notation as nested objects and lists."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        head = name.split("[", 1)[0]
        path = [head, *KEY_RE.findall(name[len(head) :])]
        node: dict[str, Any] = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _listed(root)


def _listed(node: Any) -> Any:
    """Objects whose keys are all indices (``0``, ``1``…) become lists, in order."""
    if not isinstance(node, dict):
        return node
    items = {k: _listed(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def error(kind: str, message: str, *, param: str | None = None,
          code: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Stripe's error body."""
    body: dict[str, Any] = {"type": kind, "message": message}
    if param is not None:
        body["param"] = param
    if code is not None:
        body["code"] = code
    return {"error": body}


def new_id(prefix: str) -> str:
    """An object id as Stripe writes them (``cs_test_…``, ``pi_…``, ``evt_…``)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def session_errors(params: dict[str, Any]) -> dict[str, Any] | None:
    """The error a Checkout Session create would get for ``params``, or None."""
    for name in ("success_url", "mode"):
        if not params.get(name):
            return error("invalid_request_error", f"Missing required param: {name}.",
                         param=name, code="parameter_missing")  # fmt: skip
    if params["mode"] != "payment":
        return error("invalid_request_error", "The stand-in only takes mode=payment.",
                     param="mode", code="parameter_invalid_string")  # fmt: skip
    items = params.get("line_items")
    if not isinstance(items, list) or len(items) != 1:
        return error("invalid_request_error", "Send exactly one line item.",
                     param="line_items", code="parameter_invalid_array")  # fmt: skip
    price = items[0].get("price_data") or {}
    if not str(price.get("unit_amount", "")).isdigit() or not price.get("currency"):
        where = "line_items[0][price_data][unit_amount]"
        return error("invalid_request_error", "Invalid integer: unit_amount.", param=where,
                     code="parameter_invalid_integer")  # fmt: skip
    return None


def checkout_session(params: dict[str, Any], base_url: str, now: int) -> dict[str, Any]:
    """A new, open, unpaid ``checkout.session`` for validated ``params``."""
    item = params["line_items"][0]
    price = item["price_data"]
    total = int(price["unit_amount"]) * int(item.get("quantity") or 1)
    session_id = new_id("cs_test")
    return {
        "id": session_id, "object": "checkout.session", "amount_subtotal": total,
        "amount_total": total, "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"), "created": now,
        "currency": str(price["currency"]).lower(), "customer": None,
        "expires_at": now + SESSION_TTL_S,
        "livemode": False, "locale": params.get("locale"), "metadata": params.get("metadata") or {},
        "mode": "payment", "payment_intent": None, "payment_status": "unpaid", "status": "open",
        "success_url": params["success_url"], "url": f"{base_url}/c/pay/{session_id}",
    }  # fmt: skip


def completed_event(session: dict[str, Any], now: int) -> dict[str, Any]:
    """The ``checkout.session.completed`` event of a paid ``session``."""
    return {
        "id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": now,
        "data": {"object": session}, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": "checkout.session.completed",
    }  # fmt: skip


def signature(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``payload`` signed with ``secret``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + payload, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"
