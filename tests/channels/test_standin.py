"""The stand-in itself: control API over HTTP, outcome mix, settings round trip, CLI entry."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from channels.sendgrid_transport import EmailMessage, SendGridTransport
from channels.settings import ChannelSettings
from channels.twilio_transport import TextMessage, TwilioTransport
from sandbox.providers import StandinHandle, WebhookMix
from tests.channels.receiver import Receiver
from tests.support.components import free_port

ROOT = Path(__file__).resolve().parents[2]


def _call(base: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def test_transports_built_from_the_handles_env(provider: StandinHandle) -> None:
    settings = ChannelSettings.from_mapping(provider.env())
    email = SendGridTransport.from_settings(settings)
    text = TwilioTransport.from_settings(settings)
    assert email.send([EmailMessage("e", "a@example.com", "s", "t", "c@bank.example")]).accepted
    assert text.send_one(TextMessage("t", "+5215512345678", "+15005550006", "x")).startswith("SM")


def test_control_api_over_http(provider: StandinHandle, receiver: Receiver) -> None:
    base = provider.base_url
    keys = _call(base, "/_standin/keys")
    assert keys["sendgrid_public_key"] == provider.sendgrid_public_key
    _call(base, "/_standin/config", {"twilio_inbound_url": f"{receiver.base_url}/in"})
    _call(base, "/_standin/fail", {"provider": "twilio", "count": 1, "status": 503})
    transport = TwilioTransport(
        provider.twilio_account_sid, provider.twilio_auth_token, api_base=base
    )
    transport.send_one(TextMessage("x", "+5215512345678", "+15005550006", "hola"))
    texts = _call(base, "/_standin/twilio/messages?to=%2B5215512345678")
    assert [t["body"] for t in texts] == ["hola"]
    stats = _call(base, "/_standin/stats")["counts"]
    assert (stats["twilio.requests"], stats["twilio.injected"]) == (2, 1)
    sid = _call(
        base,
        "/_standin/twilio/inbound",
        {"from": "+5215512345678", "to": "+15005550006", "body": "BAJA"},
    )["sid"]
    assert _call(base, "/_standin/flush", {"timeout": 5})["flushed"] is True
    assert sid.encode() in receiver.wait_for(1)[0].body
    _call(base, "/_standin/reset", {})
    assert _call(base, "/_standin/twilio/messages") == []


def test_mix_decides_outcomes_reproducibly(provider: StandinHandle, receiver: Receiver) -> None:
    provider.state.set_mix(WebhookMix(bounced=0.5, opened=1.0, seed=3))
    provider.state.sendgrid_webhook_url = f"{receiver.base_url}/sg"
    provider.state.webhook_delay_s = 60.0  # only flush() delivers them
    transport = SendGridTransport(provider.sendgrid_api_key, host=provider.base_url)
    messages = [
        EmailMessage(f"m{i}", f"u{i}@example.com", "s", "t", "c@bank.example") for i in range(200)
    ]
    transport.send(messages)
    assert receiver.requests == []
    assert provider.flush_webhooks(5)
    events = [e for r in receiver.wait_for(1) for e in json.loads(r.body)]
    counts: dict[str, int] = {}
    for e in events:
        counts[e["event"]] = counts.get(e["event"], 0) + 1
    assert counts["processed"] == 200
    assert counts["bounce"] + counts["delivered"] == 200
    assert 70 <= counts["bounce"] <= 130
    assert counts["open"] == counts["delivered"]


def test_run_forever_serves_until_sigterm() -> None:
    port = free_port()
    code = f"from sandbox.providers import run_forever; run_forever('127.0.0.1', {port})"
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first
        env = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(6))
        assert set(env) >= {"SENDGRID_API_KEY", "TWILIO_API_BASE", "SENDGRID_WEBHOOK_PUBLIC_KEY"}
        keys = _call(f"http://127.0.0.1:{port}", "/_standin/keys")
        assert keys["twilio_auth_token"] == env["TWILIO_AUTH_TOKEN"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _raw(base: str, request: bytes) -> list[bytes]:
    """Send ``request`` bytes as is; the status lines of every response, until the server closes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    # A body has no line end, so the next status line follows it directly.
    return re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", received)


def test_requests_are_parsed_like_a_strict_http_server(provider: StandinHandle) -> None:
    sid, token = provider.state.twilio_account_sid, provider.state.twilio_auth_token
    auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
    body = b"To=%2B5215512345678&From=%2B15005550006&Body=hola"
    create = (
        f"POST /2010-04-01/Accounts/{sid}/Messages.json HTTP/1.1\r\nHost: x\r\n"
        f"authorization:  Basic {auth}  \r\ncontent-length: {len(body)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    ).encode()
    # Header names in any case, padded values; keep-alive until "Connection: close".
    statuses = _raw(
        provider.base_url,
        create + b"\r\n" + body + create + b"Connection: close\r\n\r\n" + body,
    )
    assert statuses == [b"HTTP/1.1 201 Created"] * 2
    assert len(provider.state.sent_texts("+5215512345678")) == 2
    # HTTP/1.0 without keep-alive closes after one response.
    assert _raw(provider.base_url, b"GET /_standin/stats HTTP/1.0\r\n\r\n" * 2) == [
        b"HTTP/1.1 200 OK"
    ]
    for bad, status in [
        (b"GET /_standin/stats\r\n\r\n", b"400"),
        (b"GET /_standin/stats HTTP/2.0\r\n\r\n", b"400"),
        (b"GET /_standin/stats HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"GET /_standin/stats HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
        (b"GET /_standin/stats HTTP/1.1\r\n" + b"X: 1\r\n" * 101 + b"\r\n", b"431"),
    ]:
        (line,) = _raw(provider.base_url, bad)
        assert line.split()[1] == status, (bad[:40], line)
    assert len(provider.state.sent_texts("+5215512345678")) == 2  # nothing else stored
