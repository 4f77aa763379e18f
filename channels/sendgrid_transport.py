"""Email through SendGrid v3 Mail Send, using the official ``sendgrid`` client.

One request carries up to 1,000 personalizations (SendGrid's limit). Our
bodies are rendered per customer, but content lives at the request level, so
each personalization carries its own text/HTML as ``substitutions`` into a
placeholder body; SendGrid caps substitutions at 10,000 bytes per
personalization, and a message too big for that travels in a request of its
own. Every personalization's ``custom_args`` carries our message (attempt) id,
which SendGrid copies into every event the webhook later sends.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import time
import urllib.error
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from python_http_client import exceptions as http_exceptions
from sendgrid import SendGridAPIClient

from channels.errors import SettingsError, TransportError
from channels.ratelimit import RateKey, RateLimiter, acquire_blocking
from channels.report import SendReport
from channels.retry import RetryPolicy, call_with_retry, parse_retry_after
from channels.settings import ChannelSettings

MAX_PERSONALIZATIONS = 1000
MAX_SUBSTITUTION_BYTES = 10_000
MAX_CUSTOM_ARGS_BYTES = 10_000
TEXT_TAG = "[%cadencia.text%]"
HTML_TAG = "[%cadencia.html%]"
ATTEMPT_ARG = "attempt_id"
PROVIDER = "sendgrid"


@dataclass(frozen=True)
class EmailMessage:
    """One rendered email to one recipient. ``message_id`` is our attempt id."""

    message_id: str
    to_email: str
    subject: str
    text: str
    from_email: str
    to_name: str | None = None
    html: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    categories: tuple[str, ...] = ()
    custom_args: Mapping[str, str] = field(default_factory=dict)
    unsubscribe_url: str | None = None


def _personalization(m: EmailMessage, **extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "to": [_recipient(m)],
        "subject": m.subject,
        **extra,
        "custom_args": _custom_args(m),
    }
    if m.unsubscribe_url:
        # RFC 8058 one-click unsubscribe, which Gmail and Yahoo require of bulk
        # senders; the same URL the Regulation F notice in the body points to.
        p["headers"] = {
            "List-Unsubscribe": f"<{m.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    return p


def _group_key(m: EmailMessage) -> tuple[Any, ...]:
    return (m.from_email, m.from_name, m.reply_to, m.categories, m.html is not None)


def _custom_args(m: EmailMessage) -> dict[str, str]:
    args = {str(k): str(v) for k, v in m.custom_args.items()}
    args[ATTEMPT_ARG] = m.message_id
    if len(json.dumps(args).encode("utf-8")) > MAX_CUSTOM_ARGS_BYTES:
        raise ValueError(f"message {m.message_id}: custom_args exceed SendGrid's 10,000 bytes")
    return args


def _recipient(m: EmailMessage) -> dict[str, str]:
    to = {"email": m.to_email}
    if m.to_name:
        to["name"] = m.to_name
    return to


def _fits_substitutions(m: EmailMessage) -> bool:
    size = len(TEXT_TAG) + len(m.text.encode("utf-8"))
    if m.html is not None:
        size += len(HTML_TAG) + len(m.html.encode("utf-8"))
    return size <= MAX_SUBSTITUTION_BYTES


def _envelope(first: EmailMessage) -> dict[str, Any]:
    sender: dict[str, str] = {"email": first.from_email}
    if first.from_name:
        sender["name"] = first.from_name
    body: dict[str, Any] = {"from": sender}
    if first.reply_to:
        body["reply_to"] = {"email": first.reply_to}
    if first.categories:
        body["categories"] = list(first.categories)
    return body


def build_batch_body(messages: Sequence[EmailMessage]) -> dict[str, Any]:
    """The Mail Send JSON for messages sharing sender/reply-to/categories, all fitting
    substitutions (see module doc)."""
    body = _envelope(messages[0])
    body["personalizations"] = [
        _personalization(
            m, substitutions={TEXT_TAG: m.text, **({HTML_TAG: m.html} if m.html else {})}
        )
        for m in messages
    ]
    body["content"] = [{"type": "text/plain", "value": TEXT_TAG}]
    if messages[0].html is not None:
        body["content"].append({"type": "text/html", "value": HTML_TAG})
    return body


def build_single_body(m: EmailMessage) -> dict[str, Any]:
    """The Mail Send JSON for one message with its content inline."""
    body = _envelope(m)
    body["personalizations"] = [_personalization(m)]
    body["content"] = [{"type": "text/plain", "value": m.text}]
    if m.html is not None:
        body["content"].append({"type": "text/html", "value": m.html})
    return body


def plan_requests(messages: Iterable[EmailMessage]) -> list[list[EmailMessage]]:
    """Split messages into request-sized groups (≤1,000, same envelope); a message
    too large for substitutions is a group of one."""
    groups: dict[tuple[Any, ...], list[EmailMessage]] = {}
    out: list[list[EmailMessage]] = []
    for m in messages:
        if not _fits_substitutions(m):
            out.append([m])
            continue
        group = groups.setdefault(_group_key(m), [])
        group.append(m)
        if len(group) == MAX_PERSONALIZATIONS:
            out.append(group)
            groups[_group_key(m)] = []
    out.extend(g for g in groups.values() if g)
    return out


def _error_message(body: bytes | str | None) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return (body or "")[:500]


def classify_http_error(exc: http_exceptions.HTTPError) -> TransportError:
    """SendGrid HTTP errors → ``TransportError``: 429 and 5xx transient, other 4xx permanent."""
    status = int(exc.status_code)
    retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
    transient = status in (408, 429) or status >= 500
    try:
        payload = json.loads(exc.body)
        fields = [str(e["field"]) for e in payload.get("errors", []) if e.get("field")]
    except (ValueError, TypeError, AttributeError, KeyError):
        fields = []  # an error body that is not SendGrid's JSON still classifies by status
    return TransportError(
        f"SendGrid answered {status}: {_error_message(exc.body)}",
        provider=PROVIDER,
        permanent=not transient,
        status=status,
        code=str(status),
        retry_after=retry_after,
        fields=tuple(fields),
    )


_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)\.")


def blamed_personalizations(error: TransportError) -> set[int] | None:
    """Indices of the personalizations a 400 blames, or None if it blames the
    request as a whole (or names no field)."""
    if error.status != 400 or not error.fields:
        return None
    indices: set[int] = set()
    for name in error.fields:
        match = _PERSONALIZATION_FIELD.match(name)
        if match is None:
            return None
        indices.add(int(match.group(1)))
    return indices


class SendGridTransport:
    """Sends ``EmailMessage`` batches through ``SendGridAPIClient``.

    ``timeout_s`` bounds every HTTP request. ``limiter`` (optional) paces
    requests per (account, sender). Transient errors are retried per
    ``retry``; what still fails is reported per message, never raised.
    """

    def __init__(
        self,
        api_key: str,
        *,
        host: str = "https://api.sendgrid.com",
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self._client = SendGridAPIClient(api_key, host=host.rstrip("/"))
        self._timeout = timeout_s
        self._retry = retry or RetryPolicy()
        self._limiter = limiter
        self._sleep = sleep
        self._clock = clock
        # Rate buckets are keyed by account; never key anything by the secret itself.
        self._account = "sg-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]

    @classmethod
    def from_settings(cls, settings: ChannelSettings, **kwargs: Any) -> SendGridTransport:
        """A transport for ``settings.sendgrid`` (error if SendGrid is not configured)."""
        if settings.sendgrid is None:
            raise SettingsError("SendGrid is not configured: set SENDGRID_API_KEY")
        return cls(
            settings.sendgrid.api_key,
            host=settings.sendgrid.api_host,
            timeout_s=kwargs.pop("timeout_s", settings.http_timeout_s),
            **kwargs,
        )

    def _post(self, body: dict[str, Any]) -> str:
        try:
            response = self._client.client.mail.send.post(request_body=body, timeout=self._timeout)
        except http_exceptions.HTTPError as exc:
            raise classify_http_error(exc) from None
        except urllib.error.URLError as exc:
            # Raised before any byte of the request left: connection refused,
            # DNS, connect timeout. Safe to retry.
            raise TransportError(
                f"SendGrid unreachable: {exc.reason}", provider=PROVIDER, permanent=False
            ) from None
        except TimeoutError as exc:
            raise TransportError(
                f"SendGrid timed out after {self._timeout}s: {exc}",
                provider=PROVIDER,
                permanent=False,
                ambiguous=True,
            ) from None
        except (http.client.HTTPException, ConnectionError) as exc:
            raise TransportError(
                f"SendGrid connection broke: {exc!r}",
                provider=PROVIDER,
                permanent=False,
                ambiguous=True,
            ) from None
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        if response.status_code != 202 or not message_id:
            raise TransportError(
                f"SendGrid answered {response.status_code} without X-Message-Id",
                provider=PROVIDER,
                permanent=False,
                status=response.status_code,
                ambiguous=True,
            )
        return str(message_id)

    def _send_group(self, group: list[EmailMessage], *, split: bool = True) -> SendReport:
        report = SendReport()
        try:
            fits = _fits_substitutions(group[0])
            body = build_batch_body(group) if fits else build_single_body(group[0])
        except ValueError as exc:
            error = TransportError(str(exc), provider=PROVIDER, permanent=True)
            report.failed.update({m.message_id: error for m in group})
            return report
        if self._limiter is not None:
            key = RateKey(PROVIDER, self._account, group[0].from_email)
            acquire_blocking(self._limiter, key, clock=self._clock, sleep=self._sleep)
        attempts = 0

        def once() -> str:
            nonlocal attempts
            attempts += 1
            return self._post(body)

        try:
            provider_id = call_with_retry(once, self._retry, sleep=self._sleep)
        except TransportError as exc:
            blamed = blamed_personalizations(exc) if split and len(group) > 1 else None
            report.requests = attempts
            if not blamed:
                report.failed.update({m.message_id: exc for m in group})
                return report
            # SendGrid refuses the whole request for one bad address: fail only
            # the blamed recipients and send the rest once more.
            report.failed.update({group[i].message_id: exc for i in blamed if i < len(group)})
            rest = [m for i, m in enumerate(group) if i not in blamed]
            if rest:
                report.merge(self._send_group(rest, split=False))
            return report
        report.accepted.update({m.message_id: provider_id for m in group})
        report.requests = attempts
        return report

    def send(self, messages: Iterable[EmailMessage]) -> SendReport:
        """Send all messages in as few requests as SendGrid allows; report per message."""
        batch = list(messages)
        seen: set[str] = set()
        for m in batch:
            if m.message_id in seen:
                raise ValueError(f"message id {m.message_id!r} appears twice in one send")
            seen.add(m.message_id)
        report = SendReport()
        for group in plan_requests(batch):
            report.merge(self._send_group(group))
        return report
