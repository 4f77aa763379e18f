"""The webhook receiver over real HTTP: signed provider events into the ledger, once."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from campaigns.ledger.chain import EVENTS, verify
from campaigns.messaging import enqueue_batch
from campaigns.storage.models import ContactPoint
from tests.webhooks.conftest import Hooks

pytestmark = pytest.mark.redis
SIG = "X-Twilio-Email-Event-Webhook-Signature"
STAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def ledger(hooks: Hooks) -> list[Any]:
    with hooks.world.engine.connect() as conn:
        return list(conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)))


def latest(hooks: Hooks) -> dict[int, str]:
    out: dict[int, str] = {}
    for row in ledger(hooks):
        if row.kind == "attempt" and row.resolves_id is not None:
            out[int(row.resolves_id)] = row.outcome
    return out


def point(hooks: Hooks, value: str) -> Any:
    with hooks.world.engine.connect() as conn:
        return conn.execute(sa.select(ContactPoint).where(ContactPoint.value == value)).one()


def signed_sendgrid(
    hooks: Hooks, events: list[dict[str, Any]], stamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    ts = str(stamp if stamp is not None else int(time.time()))
    key = hooks.world.standin.state.signing_key
    signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        SIG: base64.b64encode(signature).decode(),
        STAMP: ts,
        "Content-Type": "application/json",
    }


def send_and_settle(hooks: Hooks, channel: str, customers: list[str], batch_id: str) -> None:
    w = hooks.world
    enqueue_batch(w.queue, w.batch(customers, channel, batch_id=batch_id))
    w.drain()
    assert w.standin.flush_webhooks(timeout=15)


def test_delivery_events_settle_attempts_and_never_regress(hooks: Hooks) -> None:
    w = hooks.world
    with w.engine.begin() as conn:
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.value == "mary2@example.com")
            .values(value="mary2+bounce@example.com")
        )
    send_and_settle(hooks, "email", ["U0", "U1", "U2"], "e1")
    send_and_settle(hooks, "sms", ["U3", "U4"], "s1")
    outcomes = latest(hooks)
    assert sorted(outcomes.values()) == [
        "bounced",
        "delivered",
        "delivered",
        "delivered",
        "delivered",
    ]
    # Twilio's "sent" callback came after the job recorded "sent": not written twice,
    # and nothing came after "delivered".
    rows = ledger(hooks)
    per_attempt: dict[int, list[str]] = {}
    for r in rows:
        if r.resolves_id is not None:
            per_attempt.setdefault(int(r.resolves_id), []).append(r.outcome)
    assert all(v[0] == "sent" and v.count("sent") == 1 for v in per_attempt.values())
    # The bounced address is flagged; the next batch skips it with a reason.
    assert point(hooks, "mary2+bounce@example.com").wrong_number_at is not None
    send_and_settle(hooks, "email", ["U2"], "e2")
    assert len(w.standin.state.sent_emails("mary2+bounce@example.com")) == 1
    assert verify(w.engine).ok


def test_the_same_event_delivered_twice_is_recorded_once(hooks: Hooks) -> None:
    send_and_settle(hooks, "email", ["U0"], "e1")
    (attempt,) = latest(hooks)
    before = len(ledger(hooks))
    event = {"event": "bounce", "type": "bounce", "email": "mary0@example.com",
             "timestamp": int(time.time()), "sg_event_id": "evt-dup-1",
             "attempt_id": str(attempt), "reason": "550 mailbox full"}  # fmt: skip
    body, headers = signed_sendgrid(hooks, [event])
    first = httpx.post(f"{hooks.base_url}/webhooks/sendgrid", content=body, headers=headers)
    again = httpx.post(f"{hooks.base_url}/webhooks/sendgrid", content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["recorded"] == 1
    assert again.json()["recorded"] == 0 and again.json()["duplicates"] == 1
    assert len(ledger(hooks)) == before + 1
    assert latest(hooks)[attempt] == "bounced"


@pytest.mark.parametrize("mutation", ["unsigned", "tampered", "expired"])
def test_bad_sendgrid_signatures_are_rejected_and_change_nothing(
    hooks: Hooks, mutation: str
) -> None:
    send_and_settle(hooks, "email", ["U0"], "e1")
    (attempt,) = latest(hooks)
    before = ledger(hooks)
    event = {"event": "unsubscribe", "email": "mary0@example.com", "timestamp": int(time.time()),
             "sg_event_id": "evt-x", "attempt_id": str(attempt)}  # fmt: skip
    body, headers = signed_sendgrid(
        hooks, [event], stamp=int(time.time()) - 3600 if mutation == "expired" else None
    )
    if mutation == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif mutation == "tampered":
        body = body.replace(b"unsubscribe", b"delivered__")
    response = httpx.post(f"{hooks.base_url}/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == (401 if mutation == "unsigned" else 403)
    assert ledger(hooks) == before
    assert point(hooks, "mary0@example.com").opted_out_at is None


def test_bad_twilio_signature_is_rejected(hooks: Hooks) -> None:
    send_and_settle(hooks, "sms", ["U0"], "s1")
    before = ledger(hooks)
    url = f"{hooks.base_url}/webhooks/twilio/inbound"
    params = {"MessageSid": "SMfake", "From": "+12125551000", "To": "+15005550006", "Body": "STOP",
              "AccountSid": hooks.world.standin.twilio_account_sid}  # fmt: skip
    forged = RequestValidator("not-the-token").compute_signature(url, params)
    response = httpx.post(url, data=params, headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403
    assert httpx.post(url, data=params).status_code == 401
    assert ledger(hooks) == before
    assert point(hooks, "+12125551000").opted_out_at is None


@pytest.mark.parametrize("word", ["STOP", "BAJA"])
def test_stop_replies_opt_out_and_block_the_next_text(hooks: Hooks, word: str) -> None:
    w = hooks.world
    send_and_settle(hooks, "sms", ["U0", "U1"], "s1")
    w.standin.inbound("+12125551000", "+15005550006", word)
    assert w.standin.flush_webhooks(timeout=15)
    opted = point(hooks, "+12125551000").opted_out_at
    assert opted is not None
    assert point(hooks, "+12125551001").opted_out_at is None
    events = [r for r in ledger(hooks) if r.kind == "opt_out"]
    assert [(e.customer_id, e.channel, e.contact_point) for e in events] == [
        ("U0", "sms", "+12125551000")
    ]
    # Sticky: a second STOP keeps the first date; the next batch does not text U0.
    w.standin.inbound("+12125551000", "+15005550006", word)
    assert w.standin.flush_webhooks(timeout=15)
    assert point(hooks, "+12125551000").opted_out_at == opted
    send_and_settle(hooks, "sms", ["U0", "U1"], "s2")
    assert len(w.standin.state.sent_texts("+12125551000")) == 1
    assert len(w.standin.state.sent_texts("+12125551001")) == 2


def test_a_plain_reply_marks_the_attempt_replied(hooks: Hooks) -> None:
    w = hooks.world
    send_and_settle(hooks, "sms", ["U0"], "s1")
    w.standin.inbound("+12125551000", "+15005550006", "PAGAR")
    assert w.standin.flush_webhooks(timeout=15)
    assert list(latest(hooks).values()) == ["replied"]
    assert point(hooks, "+12125551000").opted_out_at is None


def test_email_unsubscribe_opts_the_address_out(hooks: Hooks) -> None:
    send_and_settle(hooks, "email", ["U0"], "e1")
    event = {"event": "unsubscribe", "email": "MARY0@example.com", "timestamp": int(time.time()),
             "sg_event_id": "evt-unsub"}  # fmt: skip
    body, headers = signed_sendgrid(hooks, [event])
    response = httpx.post(f"{hooks.base_url}/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["opt_outs"] == 1
    assert point(hooks, "mary0@example.com").opted_out_at is not None
    assert [r.channel for r in ledger(hooks) if r.kind == "opt_out"] == ["email"]


def test_a_malformed_sendgrid_event_is_set_aside_and_the_rest_of_its_batch_recorded(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    """An unsubscribe is a legal instruction: one bad entry beside it must not lose it."""
    send_and_settle(hooks, "email", ["U0"], "e1")
    now = int(time.time())
    events = [
        {"event": "open", "email": "mary0@example.com", "timestamp": "yesterday",
         "sg_event_id": "evt-bad"},
        {"event": "unsubscribe", "email": "mary0@example.com", "timestamp": now,
         "sg_event_id": "evt-unsub"},
        "not an event",
    ]  # fmt: skip
    body, headers = signed_sendgrid(hooks, events)
    response = httpx.post(f"{hooks.base_url}/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["opt_outs"] == 1 and response.json()["set_aside"] == 2
    assert point(hooks, "mary0@example.com").opted_out_at is not None
    assert "sendgrid event #0 set aside" in caplog.text
    assert "sendgrid event #2 set aside" in caplog.text


@pytest.mark.parametrize("route", ["sendgrid", "twilio/inbound", "twilio/status", "payments"])
def test_a_body_over_the_limit_is_refused_before_it_is_read(hooks: Hooks, route: str) -> None:
    """1 MiB for the providers, 256 KiB for payments: 413, nothing recorded."""
    before = ledger(hooks)
    huge = b"x" * (1024 * 1024 + 1)
    response = httpx.post(f"{hooks.base_url}/webhooks/{route}", content=huge)
    assert response.status_code in (413, 503)  # payments answer 503 without keys configured
    if route != "payments":
        assert response.status_code == 413
    # Streamed without a Content-Length, the cap still holds.
    streamed = httpx.post(
        f"{hooks.base_url}/webhooks/{route}", content=iter([huge[:600_000], huge[600_000:]])
    )
    assert streamed.status_code == response.status_code
    assert ledger(hooks) == before


def test_twilio_without_a_public_base_url_refuses_to_start(hooks: Hooks) -> None:
    """Its signatures cover the URL it called; the caller's Host header must not decide it."""
    from campaigns.settings import ConfigError
    from campaigns.webhooks import create_webhook_app

    settings = hooks.world.settings
    assert settings.channels.twilio is not None
    unset = dataclasses.replace(settings, webhook_base_url=None)
    with pytest.raises(ConfigError, match="CADENCIA_WEBHOOK_BASE_URL is required"):
        create_webhook_app(unset, hooks.world.engine)


@pytest.mark.parametrize(("stop", "word"), [("STOP", "START"), ("BAJA", "ALTA")])
def test_start_after_stop_lifts_the_keyword_opt_out_as_carriers_do(
    hooks: Hooks, stop: str, word: str
) -> None:
    """Twilio's own STOP/START, and our BAJA/ALTA (which Twilio neither blocks nor lifts)."""
    w = hooks.world
    send_and_settle(hooks, "sms", ["U0", "U1"], "s1")
    # START from a number that never opted out changes nothing.
    w.standin.inbound("+12125551001", "+15005550006", word)
    assert w.standin.flush_webhooks(timeout=15)
    assert [r.kind for r in ledger(hooks) if r.kind == "consent"] == []
    w.standin.inbound("+12125551000", "+15005550006", stop)
    assert w.standin.flush_webhooks(timeout=15)
    assert point(hooks, "+12125551000").opted_out_at is not None
    send_and_settle(hooks, "sms", ["U0"], "s2")
    assert len(w.standin.state.sent_texts("+12125551000")) == 1
    w.standin.inbound("+12125551000", "+15005550006", word)
    assert w.standin.flush_webhooks(timeout=15)
    assert point(hooks, "+12125551000").opted_out_at is None
    consents = [r for r in ledger(hooks) if r.kind == "consent"]
    assert [(r.customer_id, r.channel, json.loads(r.extra)["granted"]) for r in consents] == [
        ("U0", "sms", True)
    ]
    send_and_settle(hooks, "sms", ["U0"], "s3")
    assert len(w.standin.state.sent_texts("+12125551000")) == 2
