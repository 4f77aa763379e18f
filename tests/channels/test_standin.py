"""The stand-in itself: control API over HTTP, outcome mix, settings round trip, CLI entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from channels.sendgrid_transport import EmailMessage, SendGridTransport
from channels.settings import ChannelSettings
from channels.standin import StandinHandle, WebhookMix
from channels.twilio_transport import TextMessage, TwilioTransport
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
    code = f"from channels.standin import run_forever; run_forever('127.0.0.1', {port})"
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
