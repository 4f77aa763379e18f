"""Local stand-ins for SendGrid and Twilio, for tests and the demo.

``start_standin()`` runs the server in a background thread on a free port and
returns a handle with its base URL, credentials and webhook public key;
``run_forever()`` is the foreground entry behind ``cadencia sandbox providers``.
The official clients talk to it over real HTTP (see ``channels.settings`` for
the configuration names, and ``StandinHandle.env()``).

Stripe Checkout has a stand-in of its own, on its own port:
``sandbox.providers.stripe_standin`` (``start_stripe_standin()``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.providers.state import StandinState, StoredEmail, StoredText, WebhookMix

from sandbox.providers.server import StandinServer  # isort: skip

__all__ = [
    "StandinHandle",
    "StandinState",
    "StoredEmail",
    "StoredText",
    "WebhookMix",
    "run_forever",
    "standin",
    "start_standin",
]


@dataclass
class StandinHandle:
    """A running stand-in: where it listens, its credentials, its state."""

    base_url: str
    server: StandinServer
    thread: threading.Thread | None

    @property
    def state(self) -> StandinState:
        """Stored messages, counters, failure injection, webhook targets."""
        return self.server.state

    @property
    def sendgrid_api_key(self) -> str:
        """The only API key the SendGrid side accepts."""
        return self.state.sendgrid_api_key

    @property
    def sendgrid_public_key(self) -> str:
        """Base64 DER public key that verifies the stand-in's signed events."""
        return self.state.sendgrid_public_key

    @property
    def twilio_account_sid(self) -> str:
        """Account SID the Twilio side accepts."""
        return self.state.twilio_account_sid

    @property
    def twilio_auth_token(self) -> str:
        """Auth token: API password and webhook signing key."""
        return self.state.twilio_auth_token

    def env(self) -> dict[str, str]:
        """The configuration variables that point the channels layer here."""
        return {
            "SENDGRID_API_KEY": self.sendgrid_api_key,
            "SENDGRID_API_HOST": self.base_url,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": self.sendgrid_public_key,
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_API_BASE": self.base_url,
        }

    def inbound(self, from_: str, to: str, body: str) -> str:
        """Simulate a customer's reply (``from_`` their number, ``to`` ours); returns its sid."""
        return self.server.dispatcher.inbound(from_, to, body)

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Post every scheduled webhook now and wait for them."""
        return self.server.dispatcher.flush(timeout)

    def stop(self) -> None:
        """Stop serving and sending webhooks."""
        self.server.dispatcher.stop()
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


def _state(
    sendgrid_api_key: str | None,
    twilio_account_sid: str | None,
    twilio_auth_token: str | None,
    signing_key_pem: bytes | None,
    mix: WebhookMix | None,
    webhook_delay_s: float,
    max_stored: int,
) -> StandinState:
    state = StandinState(
        webhook_delay_s=webhook_delay_s, max_stored=max_stored, mix=mix or WebhookMix()
    )
    if sendgrid_api_key:
        state.sendgrid_api_key = sendgrid_api_key
    if twilio_account_sid:
        state.twilio_account_sid = twilio_account_sid
    if twilio_auth_token:
        state.twilio_auth_token = twilio_auth_token
    if signing_key_pem:
        key = serialization.load_pem_private_key(signing_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("signing_key_pem must be an EC (P-256) private key")
        state.signing_key = key
    return state


def start_standin(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sendgrid_api_key: str | None = None,
    twilio_account_sid: str | None = None,
    twilio_auth_token: str | None = None,
    signing_key_pem: bytes | None = None,
    sendgrid_webhook_url: str | None = None,
    twilio_status_url: str | None = None,
    twilio_inbound_url: str | None = None,
    mix: WebhookMix | None = None,
    webhook_delay_s: float = 0.2,
    max_stored: int = 200_000,
    twilio_sent_callbacks: bool = True,
) -> StandinHandle:
    """Start the stand-in in a daemon thread (``port=0``: a free port) and return its handle.

    Credentials not given are generated. Webhooks are only sent to URLs given
    here or set later on ``handle.state``.
    """
    state = _state(
        sendgrid_api_key, twilio_account_sid, twilio_auth_token, signing_key_pem, mix,
        webhook_delay_s, max_stored,
    )  # fmt: skip
    state.sendgrid_webhook_url = sendgrid_webhook_url
    state.twilio_status_url = twilio_status_url
    state.twilio_inbound_url = twilio_inbound_url
    state.twilio_sent_callbacks = twilio_sent_callbacks
    server = StandinServer((host, port), state)
    bound_host, bound_port = server.server_address[:2]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="standin-http",
        daemon=True,
    )
    thread.start()
    return StandinHandle(
        base_url=f"http://{bound_host!s}:{bound_port}", server=server, thread=thread
    )


@contextmanager
def standin(**kwargs: object) -> Iterator[StandinHandle]:
    """``start_standin`` as a context manager that always stops it."""
    handle = start_standin(**kwargs)  # type: ignore[arg-type]
    try:
        yield handle
    finally:
        handle.stop()


def run_forever(
    host: str = "127.0.0.1",
    port: int = 8025,
    *,
    sendgrid_api_key: str | None = None,
    twilio_account_sid: str | None = None,
    twilio_auth_token: str | None = None,
    signing_key_pem: bytes | None = None,
    sendgrid_webhook_url: str | None = None,
    twilio_status_url: str | None = None,
    twilio_inbound_url: str | None = None,
    mix: WebhookMix | None = None,
    webhook_delay_s: float = 1.0,
    twilio_sent_callbacks: bool = True,
    max_stored: int = 200_000,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; announce the env to point clients here."""
    handle = start_standin(
        host=host, port=port, sendgrid_api_key=sendgrid_api_key,
        twilio_account_sid=twilio_account_sid, twilio_auth_token=twilio_auth_token,
        signing_key_pem=signing_key_pem, sendgrid_webhook_url=sendgrid_webhook_url,
        twilio_status_url=twilio_status_url, twilio_inbound_url=twilio_inbound_url,
        mix=mix, webhook_delay_s=webhook_delay_s, twilio_sent_callbacks=twilio_sent_callbacks,
        max_stored=max_stored,
    )  # fmt: skip
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        announce(f"provider stand-in listening on {handle.base_url}")
        for key, value in handle.env().items():
            announce(f"{key}={value}")
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        handle.stop()
