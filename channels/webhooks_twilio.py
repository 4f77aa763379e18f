"""Twilio webhooks: ``X-Twilio-Signature`` checks, status callbacks, inbound messages.

Twilio signs ``URL + every POST parameter name and value, sorted by name``
with HMAC-SHA1 keyed by the auth token (base64). The URL must be exactly the
one Twilio called (scheme, host, port, path, query), so behind a proxy pass
the public URL, not the one the app sees. We use the official
``RequestValidator`` and reject before reading any parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from channels.errors import WebhookRejected
from channels.optout import Intent, OptInEvent, OptOutEvent, reply_intent

PROVIDER = "twilio"
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})
FAILED_STATUSES = frozenset({"undelivered", "failed"})
# Errors after which this number will not take our messages, as opposed to a
# carrier hiccup (30003 unreachable handset can recover, so it is not here):
# 21211 invalid number, 21610 replied STOP, 21614 not a mobile, 30005 unknown
# handset, 30006 landline/unreachable carrier, 63024 invalid WhatsApp recipient.
PERMANENT_ERROR_CODES = frozenset({"21211", "21610", "21614", "30005", "30006", "63024"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_signature(
    auth_token: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> None:
    """Raise ``WebhookRejected`` unless ``X-Twilio-Signature`` matches ``url`` + ``params``."""
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature:
        raise WebhookRejected(
            f"Twilio webhook to {url} has no {SIGNATURE_HEADER} header",
            provider=PROVIDER,
            reason="missing-signature",
        )
    algorithm = get_signature_algorithm(_header(headers, SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(auth_token).validate(url, dict(params), signature, algorithm):
        raise WebhookRejected(
            f"Twilio webhook to {url}: {SIGNATURE_HEADER} does not match "
            "(wrong token, URL or body)",
            provider=PROVIDER,
            reason="bad-signature",
        )


def _channel_and_contact(address: str) -> tuple[Literal["sms", "whatsapp"], str]:
    if address.startswith("whatsapp:"):
        return "whatsapp", address[len("whatsapp:") :]
    return "sms", address


def _require(params: Mapping[str, str], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise WebhookRejected(
            f"Twilio webhook lacks {', '.join(missing)}", provider=PROVIDER, reason="malformed"
        )


@dataclass(frozen=True)
class MessageStatusEvent:
    """A status callback: where one of our messages (by Twilio ``sid``) now stands."""

    message_sid: str
    status: str
    channel: Literal["sms", "whatsapp"]
    to: str
    from_: str
    account_sid: str
    error_code: str | None = None

    @property
    def event_key(self) -> str:
        """Idempotency key: Twilio may repeat a callback, but one sid reaches a status once."""
        return f"{PROVIDER}:{self.message_sid}:{self.status}"

    @property
    def final(self) -> bool:
        """The delivery outcome is known (WhatsApp may still add "read" after "delivered")."""
        return self.status in FINAL_STATUSES

    @property
    def permanent_failure(self) -> bool:
        """Failed for a reason retrying will not fix."""
        return self.status in FAILED_STATUSES and (self.error_code or "") in PERMANENT_ERROR_CODES


@dataclass(frozen=True)
class InboundMessage:
    """A message a customer sent us. ``intent`` classifies STOP/START/HELP keywords."""

    message_sid: str
    channel: Literal["sms", "whatsapp"]
    contact: str
    to: str
    body: str
    account_sid: str
    intent: Intent

    @property
    def event_key(self) -> str:
        """Idempotency key for recording this message once."""
        return f"{PROVIDER}:{self.message_sid}:inbound"

    def opt_out(self) -> OptOutEvent | None:
        """The opt-out this reply means, if it is one."""
        if self.intent != "opt_out":
            return None
        return OptOutEvent(
            channel=self.channel,
            contact=self.contact,
            reason="keyword",
            provider=PROVIDER,
            source_event_id=self.message_sid,
            text=self.body,
        )

    def opt_in(self) -> OptInEvent | None:
        """The re-subscription this reply means (START, ALTA, ...), if it is one."""
        if self.intent != "opt_in":
            return None
        return OptInEvent(
            channel=self.channel,
            contact=self.contact,
            provider=PROVIDER,
            source_event_id=self.message_sid,
            text=self.body,
        )


def parse_status_callback(params: Mapping[str, str]) -> MessageStatusEvent:
    """A status callback's form parameters as a ``MessageStatusEvent``."""
    _require(params, "MessageSid", "MessageStatus", "To")
    channel, to = _channel_and_contact(params["To"])
    return MessageStatusEvent(
        message_sid=params["MessageSid"],
        status=params["MessageStatus"].lower(),
        channel=channel,
        to=to,
        from_=_channel_and_contact(params.get("From", ""))[1],
        account_sid=params.get("AccountSid", ""),
        error_code=params.get("ErrorCode") or None,
    )


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    """An inbound message's form parameters as an ``InboundMessage``.

    Twilio's Advanced Opt-Out marks keyword replies with ``OptOutType``; we
    honour it, and also recognise our own keywords (BAJA, ALTO, CANCELAR…).
    """
    _require(params, "MessageSid", "From", "To")
    channel, contact = _channel_and_contact(params["From"])
    body = params.get("Body", "")
    intent = reply_intent(body)
    marked = (params.get("OptOutType") or "").upper()
    if marked == "STOP":
        intent = "opt_out"
    elif marked == "START" and intent == "other":
        intent = "opt_in"
    return InboundMessage(
        message_sid=params["MessageSid"],
        channel=channel,
        contact=contact,
        to=_channel_and_contact(params["To"])[1],
        body=body,
        account_sid=params.get("AccountSid", ""),
        intent=intent,
    )


def verified_status_callback(
    auth_token: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> MessageStatusEvent:
    """Verify, then parse a status callback."""
    verify_signature(auth_token, url, params, headers)
    return parse_status_callback(params)


def verified_inbound(
    auth_token: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> InboundMessage:
    """Verify, then parse an inbound message."""
    verify_signature(auth_token, url, params, headers)
    return parse_inbound(params)
