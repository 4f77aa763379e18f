"""SMS and WhatsApp through the Twilio Messages API, using the official client.

WhatsApp only allows free-form text inside the 24-hour customer-service
window (since the customer last wrote to us); outside it, only an approved
template (``content_sid`` + ``content_variables``). Every message carries a
short ``validity_period`` so that nothing Twilio still has queued goes out
after the debtor's allowed contact hours have closed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from channels.errors import SettingsError, TransportError
from channels.ratelimit import RateKey, RateLimiter, acquire_blocking
from channels.report import SendReport
from channels.retry import RetryPolicy, call_with_retry, parse_retry_after
from channels.settings import DEFAULT_TWILIO_CONCURRENCY, ChannelSettings
from channels.twilio_http import BaseUrlHttpClient

PROVIDER = "twilio"
WHATSAPP_SESSION = timedelta(hours=24)
MAX_VALIDITY_S = 36_000  # Twilio accepts 1..36000 seconds


@dataclass(frozen=True)
class TextMessage:
    """One SMS or WhatsApp message. ``message_id`` is our attempt id.

    ``to`` / ``from_`` are E.164 (``+5215512345678``); the ``whatsapp:``
    prefix is added for WhatsApp. ``validity_s`` is how long Twilio may keep it
    queued (compute it from the end of the allowed window). For WhatsApp with
    ``session_open=False``, ``content_sid`` is required and ``body`` unused:
    the approved template itself must then carry any opt-out wording the
    rule pack requires, since the rendered body is not sent.
    """

    message_id: str
    to: str
    from_: str
    body: str
    channel: Literal["sms", "whatsapp"] = "sms"
    validity_s: int | None = None
    status_callback: str | None = None
    session_open: bool = False
    content_sid: str | None = None
    content_variables: Mapping[str, str] = field(default_factory=dict)


def whatsapp_session_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while free-form WhatsApp text is allowed: within 24 h of the customer's last message."""
    return last_inbound_at is not None and now - last_inbound_at < WHATSAPP_SESSION


def _address(number: str, channel: str) -> str:
    if channel == "whatsapp" and not number.startswith("whatsapp:"):
        return f"whatsapp:{number}"
    return number


class TwilioTransport:
    """Sends ``TextMessage``s through ``twilio.rest.Client`` with explicit timeouts.

    ``default_validity_s`` applies when a message has no ``validity_s``.
    Transient errors are retried per ``retry``; what still fails is reported
    per message by :meth:`send` (or raised by :meth:`send_one`).
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base: str = "https://api.twilio.com",
        timeout_s: float = 10.0,
        default_validity_s: int = 900,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        trust_env: bool = True,
        concurrency: int = DEFAULT_TWILIO_CONCURRENCY,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        _check_validity(default_validity_s, "default_validity_s")
        self._http = BaseUrlHttpClient(api_base, timeout=timeout_s, trust_env=trust_env)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._account = account_sid
        self._timeout = timeout_s
        self._validity = default_validity_s
        self._retry = retry or RetryPolicy()
        self._limiter = limiter
        self._sleep = sleep
        self._clock = clock
        self._concurrency = concurrency
        # One pool for the transport's life: starting eight threads per send()
        # cost ~0.2 ms per SMS. Remembered with its process id, because a
        # forked child inherits the pool object but none of its threads.
        self._pool: tuple[int, int, ThreadPoolExecutor] | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ChannelSettings, **kwargs: Any) -> TwilioTransport:
        """A transport for ``settings.twilio`` (error if Twilio is not configured)."""
        if settings.twilio is None:
            raise SettingsError(
                "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        return cls(
            settings.twilio.account_sid,
            settings.twilio.auth_token,
            api_base=settings.twilio.api_base,
            timeout_s=kwargs.pop("timeout_s", settings.http_timeout_s),
            concurrency=kwargs.pop("concurrency", settings.twilio.concurrency),
            **kwargs,
        )

    def _params(self, m: TextMessage) -> dict[str, object]:
        validity = m.validity_s if m.validity_s is not None else self._validity
        _check_validity(validity, f"message {m.message_id} validity_s")
        params: dict[str, object] = {
            "to": _address(m.to, m.channel),
            "from_": _address(m.from_, m.channel),
            "validity_period": validity,
        }
        if m.status_callback:
            params["status_callback"] = m.status_callback
        if m.channel == "whatsapp" and not m.session_open:
            if not m.content_sid:
                raise TransportError(
                    f"message {m.message_id}: WhatsApp outside the 24-hour session needs an "
                    "approved template (content_sid)",
                    provider=PROVIDER,
                    permanent=True,
                    code="template-required",
                )
            params["content_sid"] = m.content_sid
            params["content_variables"] = json.dumps(dict(m.content_variables))
        else:
            params["body"] = m.body
        return params

    def _create(self, params: dict[str, object]) -> str:
        try:
            message = self._client.messages.create(**params)
        except TwilioRestException as exc:
            raise classify_twilio_error(
                exc, self._http.last_response_header("Retry-After")
            ) from None
        except TransportError:
            raise  # the HTTP client classified a connection failure
        except TwilioException as exc:
            raise TransportError(
                f"Twilio client error: {exc}", provider=PROVIDER, permanent=False, ambiguous=True
            ) from None
        if not message.sid:
            raise TransportError(
                "Twilio accepted the message but returned no sid",
                provider=PROVIDER,
                permanent=False,
                ambiguous=True,
            )
        return str(message.sid)

    def _deliver(
        self, m: TextMessage, params: dict[str, object]
    ) -> tuple[str | TransportError, int]:
        """Pace, send with retries; return (sid or the final error, HTTP requests made)."""
        if self._limiter is not None:
            key = RateKey(PROVIDER, self._account, m.from_)
            acquire_blocking(self._limiter, key, clock=self._clock, sleep=self._sleep)
        tries = 0

        def once() -> str:
            nonlocal tries
            tries += 1
            return self._create(params)

        try:
            return call_with_retry(once, self._retry, sleep=self._sleep), tries
        except TransportError as exc:
            return exc, tries

    def send_one(self, m: TextMessage) -> str:
        """Send one message; return Twilio's ``sid`` or raise ``TransportError``."""
        outcome, _ = self._deliver(m, self._params(m))
        if isinstance(outcome, TransportError):
            raise outcome
        return outcome

    def send(
        self, messages: Iterable[TextMessage], *, concurrency: int | None = None
    ) -> SendReport:
        """Send each message (one request each, ``concurrency`` in flight); report per message.

        ``concurrency`` defaults to the transport's (``TWILIO_CONCURRENCY``).

        Every message is checked before the first is sent, so a ``ValueError``
        (e.g. a validity outside Twilio's range) means nothing went out.
        """
        batch = list(messages)
        if len({m.message_id for m in batch}) != len(batch):
            raise ValueError("a message id appears twice in one send")
        report = SendReport(requests=0)
        ready: list[tuple[TextMessage, dict[str, object]]] = []
        for m in batch:
            try:
                ready.append((m, self._params(m)))
            except TransportError as exc:
                report.failed[m.message_id] = exc
        lock = threading.Lock()
        in_flight = self._concurrency if concurrency is None else concurrency

        def one(item: tuple[TextMessage, dict[str, object]]) -> None:
            m, params = item
            outcome, tries = self._deliver(m, params)
            with lock:
                report.requests += tries
                if isinstance(outcome, TransportError):
                    report.failed[m.message_id] = outcome
                else:
                    report.accepted[m.message_id] = outcome

        if in_flight <= 1 or len(ready) <= 1:
            for item in ready:
                one(item)
        else:
            list(self._executor(in_flight).map(one, ready))
        return report

    def _executor(self, concurrency: int) -> ThreadPoolExecutor:
        with self._pool_lock:
            pid = os.getpid()
            if self._pool is not None and self._pool[:2] == (pid, concurrency):
                return self._pool[2]
            if self._pool is not None and self._pool[0] == pid:
                self._pool[2].shutdown(wait=True)
            pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="twilio-send")
            self._pool = (pid, concurrency, pool)
            return pool

    def close(self) -> None:
        """Stop the sending threads (idempotent); a later ``send`` starts new ones."""
        with self._pool_lock:
            if self._pool is not None and self._pool[0] == os.getpid():
                self._pool[2].shutdown(wait=True)
            self._pool = None


def _check_validity(seconds: int, name: str) -> None:
    if not 1 <= seconds <= MAX_VALIDITY_S:
        raise ValueError(f"{name}={seconds} must be within 1..{MAX_VALIDITY_S} seconds (Twilio)")


def classify_twilio_error(exc: TwilioRestException, retry_after: str | None) -> TransportError:
    """4xx (bad number 21211, unsubscribed 21610, auth 20003…) permanent; 429/5xx transient."""
    status = int(exc.status)
    transient = status in (408, 429) or status >= 500
    return TransportError(
        f"Twilio answered {status} (code {exc.code}): {exc.msg}",
        provider=PROVIDER,
        permanent=not transient,
        status=status,
        code=str(exc.code) if exc.code is not None else None,
        retry_after=parse_retry_after(retry_after) if transient else None,
    )
