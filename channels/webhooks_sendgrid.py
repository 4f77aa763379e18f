"""SendGrid Event Webhook: signature check and event parsing.

SendGrid signs ``timestamp + raw body`` with ECDSA P-256 / SHA-256 and sends
the base64 DER signature and the timestamp in the headers below; the public
key is shown in the SendGrid console as base64 DER. We verify over the exact
bytes received (re-serialising the JSON would change them), and refuse
timestamps outside a replay window, before parsing anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels.errors import WebhookRejected
from channels.optout import OptOutEvent

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
PROVIDER = "sendgrid"
DEFAULT_MAX_AGE_S = 300.0
ATTEMPT_ARG = "attempt_id"

# Fields SendGrid itself puts on events; anything else on an event is one of
# our custom_args, which SendGrid flattens into the top level.
STANDARD_FIELDS = frozenset(
    {
        "email", "timestamp", "event", "sg_event_id", "sg_message_id", "smtp-id",
        "category", "reason", "status", "type", "bounce_classification", "response",
        "attempt", "url", "url_offset", "useragent", "ip", "tls", "cert_err",
        "asm_group_id", "sg_machine_open", "sg_content_type", "sg_template_id",
        "sg_template_name", "marketing_campaign_id", "marketing_campaign_name",
        "marketing_campaign_version", "marketing_campaign_split_id", "post_type",
        "singlesend_id", "singlesend_name", "template_id", "template_version_id",
        "template_name", "template_hash", "mc_stats", "phase_id", "send_at", "pool",
        "unique_args", "custom_args", "ip_pool_id", "ip_pool_name",
    }
)  # fmt: skip
OPT_OUT_EVENTS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})


@dataclass(frozen=True)
class EmailEvent:
    """One SendGrid event. ``sg_event_id`` is unique per event (use it for idempotency)."""

    event: str
    email: str
    timestamp: int
    sg_event_id: str
    sg_message_id: str | None
    custom_args: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    status: str | None = None
    bounce_type: str | None = None
    bounce_classification: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = ()

    @property
    def attempt_id(self) -> str | None:
        """Our attempt id, carried through SendGrid in ``custom_args``."""
        return self.custom_args.get(ATTEMPT_ARG)

    @property
    def x_message_id(self) -> str | None:
        """The ``X-Message-Id`` of the request that sent it (prefix of ``sg_message_id``)."""
        return self.sg_message_id.split(".", 1)[0] if self.sg_message_id else None

    @property
    def permanent_failure(self) -> bool:
        """A hard bounce or a drop: this address will not take mail."""
        return (self.event == "bounce" and self.bounce_type != "blocked") or self.event == "dropped"

    def opt_out(self) -> OptOutEvent | None:
        """The opt-out this event means (unsubscribe, group unsubscribe, spam report), if any."""
        if self.event not in OPT_OUT_EVENTS:
            return None
        return OptOutEvent(
            channel="email",
            contact=self.email.strip().lower(),
            reason=self.event,
            provider=PROVIDER,
            source_event_id=self.sg_event_id,
        )


def load_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or a PEM block."""
    try:
        if "BEGIN PUBLIC KEY" in key:
            loaded = serialization.load_pem_public_key(key.encode("ascii"))
        else:
            loaded = serialization.load_der_public_key(base64.b64decode("".join(key.split())))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"SendGrid webhook public key is not base64 DER or PEM: {exc}") from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ValueError("SendGrid webhook public key is not an elliptic-curve key")
    return loaded


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_signature(
    public_key: ec.EllipticCurvePublicKey,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> None:
    """Raise ``WebhookRejected`` unless SendGrid signed ``body`` within ``max_age_s`` of ``now``."""
    signature = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected(
            f"SendGrid webhook without {SIGNATURE_HEADER} / {TIMESTAMP_HEADER} headers",
            provider=PROVIDER,
            reason="missing-signature",
        )
    try:
        sent_at = float(timestamp)
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRejected(
            "SendGrid webhook signature or timestamp header is malformed",
            provider=PROVIDER,
            reason="bad-signature",
        ) from None
    try:
        public_key.verify(
            raw_signature, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, UnicodeEncodeError):
        raise WebhookRejected(
            "SendGrid webhook signature does not verify against the configured public key",
            provider=PROVIDER,
            reason="bad-signature",
        ) from None
    # Checked after the signature so an attacker cannot probe our clock; the
    # signed timestamp cannot be altered, so an old capture cannot be replayed.
    if abs(now - sent_at) > max_age_s:
        raise WebhookRejected(
            f"SendGrid webhook timestamp {timestamp} is {now - sent_at:.0f}s from now "
            f"(window {max_age_s:.0f}s): possible replay",
            provider=PROVIDER,
            reason="expired",
        )


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


@dataclass(frozen=True)
class SetAside:
    """An entry of a batch that is not a usable event: its position and what is wrong."""

    index: int
    reason: str


@dataclass(frozen=True)
class EventBatch:
    """A verified batch: the usable events, and the entries set aside."""

    events: tuple[EmailEvent, ...]
    set_aside: tuple[SetAside, ...]


def parse_batch(body: bytes) -> EventBatch:
    """Parse SendGrid's JSON array, setting aside the entries that are not usable events.

    One malformed entry must not lose the rest of a signed batch (an
    unsubscribe among them is a legal instruction): only a body that is not a
    JSON array is refused whole (``WebhookRejected``).
    """
    events: list[EmailEvent] = []
    aside: list[SetAside] = []
    for index, raw in enumerate(_event_array(body)):
        try:
            events.append(_event(index, raw))
        except WebhookRejected as exc:
            aside.append(SetAside(index, str(exc)))
    return EventBatch(tuple(events), tuple(aside))


def parse_events(body: bytes) -> tuple[EmailEvent, ...]:
    """Parse the JSON array SendGrid posts; ``WebhookRejected`` (malformed) names the bad entry."""
    return tuple(_event(index, raw) for index, raw in enumerate(_event_array(body)))


def _event_array(body: bytes) -> list[Any]:
    """The body's JSON array, or ``WebhookRejected``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(
            f"SendGrid webhook body is not JSON: {exc}", provider=PROVIDER, reason="malformed"
        ) from None
    if not isinstance(payload, list):
        raise WebhookRejected(
            "SendGrid webhook body must be a JSON array of events",
            provider=PROVIDER,
            reason="malformed",
        )
    return payload


def _event(index: int, raw: Any) -> EmailEvent:
    """Entry ``index`` of the array as an event, or ``WebhookRejected`` naming it."""
    if not isinstance(raw, dict):
        raise WebhookRejected(
            f"SendGrid event #{index} is not an object", provider=PROVIDER, reason="malformed"
        )
    missing = [k for k in ("event", "email", "timestamp", "sg_event_id") if k not in raw]
    if missing:
        raise WebhookRejected(
            f"SendGrid event #{index} lacks {', '.join(missing)}",
            provider=PROVIDER,
            reason="malformed",
        )
    custom = _custom_args(raw)
    category = raw.get("category")
    categories = (
        tuple(category) if isinstance(category, list) else ((category,) if category else ())
    )
    try:
        timestamp = int(raw["timestamp"])
    except (TypeError, ValueError):
        raise WebhookRejected(
            f"SendGrid event #{index} timestamp {raw['timestamp']!r} is not an integer",
            provider=PROVIDER,
            reason="malformed",
        ) from None
    return EmailEvent(
        event=str(raw["event"]),
        email=str(raw["email"]),
        timestamp=timestamp,
        sg_event_id=str(raw["sg_event_id"]),
        sg_message_id=_opt_str(raw, "sg_message_id"),
        custom_args=custom,
        reason=_opt_str(raw, "reason"),
        status=_opt_str(raw, "status"),
        bounce_type=_opt_str(raw, "type"),
        bounce_classification=_opt_str(raw, "bounce_classification"),
        url=_opt_str(raw, "url"),
        categories=tuple(str(c) for c in categories),
    )


def _custom_args(raw: Mapping[str, Any]) -> dict[str, str]:
    """Our custom_args: the event's non-standard scalar fields, then any nested object's."""
    custom = {
        k: str(v)
        for k, v in raw.items()
        if k not in STANDARD_FIELDS and isinstance(v, str | int | float | bool)
    }
    nested = raw.get("custom_args") or raw.get("unique_args")
    if isinstance(nested, dict):
        custom.update({str(k): str(v) for k, v in nested.items()})
    return custom


def verified_events(
    public_key: ec.EllipticCurvePublicKey,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> tuple[EmailEvent, ...]:
    """Verify, then parse: what a webhook endpoint should call with the raw request."""
    verify_signature(public_key, headers, body, now=now, max_age_s=max_age_s)
    return parse_events(body)


def verified_batch(
    public_key: ec.EllipticCurvePublicKey,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> EventBatch:
    """Verify, then parse leniently (``parse_batch``): what the webhook endpoint calls."""
    verify_signature(public_key, headers, body, now=now, max_age_s=max_age_s)
    return parse_batch(body)
