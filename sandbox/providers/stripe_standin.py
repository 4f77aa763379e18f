"""A local stand-in for Stripe Checkout, for tests and the demo.

Speaks what Stripe's official SDK calls for a hosted checkout (wire format
in ``stripe_wire``): ``POST /v1/checkout/sessions`` and ``GET
/v1/checkout/sessions/{id}`` with ``Authorization: Bearer <secret key>``
(401 otherwise), idempotent on ``Idempotency-Key``. The session's ``url`` is
a minimal hosted page (``/c/pay/{id}``, no script) whose Pay button marks
the session paid, delivers a signed ``checkout.session.completed`` event to
the configured webhook URL and sends the browser to the success URL
(``{CHECKOUT_SESSION_ID}`` filled in, as Stripe does).

``start_stripe_standin()`` serves it in a thread on a free port;
``StripeStandin.env()`` names the settings that point the portal and the
webhook receiver at it. Failures are injected with ``fail_next``.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sandbox.providers import stripe_wire as wire

SESSIONS = "/v1/checkout/sessions"
PAGE = "/c/pay/"


@dataclass
class Delivery:
    """One webhook delivery: the event, its signed body and what the receiver answered."""

    event_id: str
    payload: bytes
    status: int | None = None


@dataclass
class StripeState:
    """Sessions, deliveries, credentials and injected failures (under ``lock``)."""

    api_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(16))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(16))
    webhook_url: str | None = None
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency_key: dict[str, str] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int = 500, count: int = 1, kind: str = "api_error",
                  message: str = "Something went wrong on Stripe's end.") -> None:  # fmt: skip
        """Answer the next ``count`` API requests with ``status`` and Stripe's error body."""
        with self.lock:
            self.failures.extend([(status, wire.error(kind, message))] * count)


class Handler(BaseHTTPRequestHandler):
    """Routes one request; the state lives on the server."""

    server: StripeServer
    protocol_version = "HTTP/1.1"
    server_version = "cadencia-stripe-standin/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the state, not the log."""

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", wire.new_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _api_refused(self) -> bool:
        """Answer 401 for a wrong key, or an injected failure; True when answered."""
        state = self.server.state
        with state.lock:
            state.requests += 1
            injected = state.failures.pop(0) if state.failures else None
        if self.headers.get("Authorization") != f"Bearer {state.api_key}":
            self._json(401, wire.error("invalid_request_error", "Invalid API Key provided."))
            return True
        if injected is not None:
            self._json(*injected)
            return True
        return False

    def do_GET(self) -> None:
        """A session (API) or its hosted page."""
        path = urlsplit(self.path).path
        if path.startswith(SESSIONS + "/"):
            if self._api_refused():
                return
            found = self.server.state.sessions.get(path[len(SESSIONS) + 1 :])
            if found is None:
                self._json(404, wire.error("invalid_request_error", "No such checkout.session",
                                           param="session", code="resource_missing"))  # fmt: skip
            else:
                self._json(200, found)
        elif path.startswith(PAGE):
            self._page(path[len(PAGE) :])
        else:
            self._json(
                404, wire.error("invalid_request_error", f"Unrecognized request URL (GET: {path}).")
            )

    def do_POST(self) -> None:
        """Create a session (API) or pay one (the hosted page's button)."""
        path = urlsplit(self.path).path
        body = self._body()
        if path == SESSIONS:
            if not self._api_refused():
                self._create(body)
        elif path.startswith(PAGE):
            self._pay(path[len(PAGE) :])
        else:
            self._json(
                404,
                wire.error("invalid_request_error", f"Unrecognized request URL (POST: {path})."),
            )

    def _create(self, body: bytes) -> None:
        state = self.server.state
        params = wire.decode_form(body)
        problem = wire.session_errors(params)
        if problem is not None:
            self._json(400, problem)
            return
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            known = state.by_idempotency_key.get(key) if key else None
            if known is None:
                session = wire.checkout_session(params, self.server.base_url, int(time.time()))
                state.sessions[session["id"]] = session
                if key:
                    state.by_idempotency_key[key] = session["id"]
            else:
                session = state.sessions[known]
        self._json(200, session)

    def _page(self, session_id: str) -> None:
        session = self.server.state.sessions.get(session_id)
        if session is None:
            self._send(
                404, b"<!doctype html><title>Not found</title><p>No such checkout.", "text/html"
            )
            return
        amount = f"{session['currency'].upper()} {session['amount_total']}"
        back = html.escape(str(session.get("cancel_url") or ""))
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Checkout (stand-in)</title></head><body><main>"
            f"<h1>Checkout</h1><p>Amount (minor units): <strong>{html.escape(amount)}</strong></p>"
            f'<form method="post" action="{PAGE}{html.escape(session_id)}">'
            '<button type="submit">Pay</button></form>'
            f'<p><a href="{back}">Back</a></p></main></body></html>'
        )
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8")

    def _pay(self, session_id: str) -> None:
        state = self.server.state
        with state.lock:
            session = state.sessions.get(session_id)
            fresh = session is not None and session["payment_status"] != "paid"
            if session is not None and fresh:
                session.update(payment_status="paid", status="complete",
                               payment_intent=wire.new_id("pi"))  # fmt: skip
        if session is None:
            self._send(404, b"no such checkout", "text/plain")
            return
        if fresh:
            self.server.deliver(wire.completed_event(dict(session), int(time.time())))
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
        self._send(303, b"", "text/plain", {"Location": target})


class StripeServer(ThreadingHTTPServer):
    """The HTTP server, its state, and the webhook sender."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: StripeState) -> None:
        super().__init__(address, Handler)
        self.state = state
        host, port = self.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        # No proxies from the environment: the receiver is on this machine.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def deliver(self, event: dict[str, Any]) -> Delivery:
        """Sign ``event`` and post it to the webhook URL (if any), as Stripe does."""
        delivery = Delivery(event["id"], json.dumps(event).encode("utf-8"))
        with self.state.lock:
            self.state.deliveries.append(delivery)
        self.post(delivery)
        return delivery

    def post(self, delivery: Delivery, *, signature: str | None = None) -> int | None:
        """Post a delivery's payload (signed now, or with ``signature``); the status."""
        url = self.state.webhook_url
        if url is None:
            return None
        request = urllib.request.Request(url, data=delivery.payload, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0",
            "Stripe-Signature": signature
            or wire.signature(self.state.webhook_secret, delivery.payload),
        })  # fmt: skip
        try:
            with self._opener.open(request, timeout=30) as answer:
                delivery.status = int(answer.status)
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
        except OSError:
            delivery.status = None
        return delivery.status


@dataclass
class StripeStandin:
    """A running stand-in: where it listens, its credentials, its state."""

    base_url: str
    server: StripeServer
    thread: threading.Thread

    @property
    def state(self) -> StripeState:
        """Sessions, deliveries, failure injection."""
        return self.server.state

    def env(self) -> dict[str, str]:
        """The settings that point the portal and the webhook receiver here."""
        return {
            "CADENCIA_STRIPE_API_KEY": self.state.api_key,
            "CADENCIA_STRIPE_API_BASE": self.base_url,
            "CADENCIA_STRIPE_WEBHOOK_SECRET": self.state.webhook_secret,
        }

    def redeliver(self, event_id: str) -> int | None:
        """Post an event delivered before again, freshly signed (Stripe retries so)."""
        delivery = next(d for d in self.state.deliveries if d.event_id == event_id)
        return self.server.post(Delivery(delivery.event_id, delivery.payload))

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_stripe_standin(*, host: str = "127.0.0.1", port: int = 0,
                         webhook_url: str | None = None) -> StripeStandin:  # fmt: skip
    """Serve the stand-in in a daemon thread (``port=0``: a free port); its handle."""
    state = StripeState(webhook_url=webhook_url)
    server = StripeServer((host, port), state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="stripe-standin", daemon=True)  # fmt: skip
    thread.start()
    return StripeStandin(server.base_url, server, thread)


def main() -> None:
    """Serve in the foreground (``python -m sandbox.providers.stripe_standin [PORT [WEBHOOK]]``)."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 12111
    handle = start_stripe_standin(port=port, webhook_url=sys.argv[2] if len(sys.argv) > 2 else None)
    print(f"Stripe stand-in listening on {handle.base_url}", flush=True)
    for name, value in handle.env().items():
        print(f"{name}={value}", flush=True)
    try:
        handle.thread.join()
    except KeyboardInterrupt:
        handle.stop()


if __name__ == "__main__":
    main()
