"""Fault: a webhook storm. Hundreds of SendGrid and Twilio webhook requests hit the
real receiver over HTTP at once from several threads: every genuine event is
delivered three times (providers retry), mixed with replays of captured
requests outside the signature window, unsigned, forged, tampered and
malformed ones, and stale "sent" callbacks arriving after "delivered".

Invariant: each genuine event is recorded exactly once (every copy answered
200, one ledger row per event in total); every bad request is answered 4xx and
changes nothing (no outcome, no opt-out, no flagged address); outcomes never
regress; the ledger passes every check of ``tests.faults.invariants``.
Bounded: about 250 requests, loopback only.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from redis import Redis
from twilio.request_validator import RequestValidator

from campaigns.ledger.chain import EVENTS
from campaigns.messaging import enqueue_batch
from campaigns.queues import rq_queue
from campaigns.storage.db import make_engine
from campaigns.storage.models import ContactPoint
from sandbox.providers import StandinHandle
from tests.faults.invariants import check_ledger
from tests.support.components import free_port
from tests.support.messaging import (
    World,
    make_settings,
    portfolio_rows,
    set_zone,
    zone_at_local_hour,
)
from tests.support.portfolio import load_rows
from tests.support.redis_server import PrivateRedis
from tests.support.webhooks import serving_webhooks

pytestmark = pytest.mark.redis
EMAILS, TEXTS = 12, 12
COPIES = 3  # each genuine request is delivered this many times
THREADS = 8
SIG = "X-Twilio-Email-Event-Webhook-Signature"
STAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@dataclass
class Request:
    """One HTTP request of the storm and what it must get."""

    path: str
    body: bytes
    headers: dict[str, str]
    genuine: bool
    events: int = 0  # ledger rows a genuine request adds (counted once over its copies)
    status: list[int] = field(default_factory=list)
    recorded: list[int] = field(default_factory=list)


@dataclass
class Storm:
    """Builds the requests: signed as the providers sign them, or broken on purpose."""

    sendgrid_key: ec.EllipticCurvePrivateKey
    twilio_token: str
    public_base: str  # the URL Twilio signs (the receiver's public address)
    requests: list[Request] = field(default_factory=list)

    def sendgrid(
        self,
        events: list[dict[str, Any]],
        *,
        rows: int = 0,
        break_with: str | None = None,
    ) -> None:
        body = json.dumps(events).encode()
        stamp = str(int(time.time()) - (3600 if break_with == "replay" else 0))
        key = ec.generate_private_key(ec.SECP256R1()) if break_with == "forged" else None
        signer = key or self.sendgrid_key
        signature = base64.b64encode(signer.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
        headers = {SIG: signature.decode(), STAMP: stamp, "Content-Type": "application/json"}
        if break_with == "unsigned":
            headers = {"Content-Type": "application/json"}
        elif break_with == "tampered":
            body = body.replace(b'"delivered"', b'"bounce"').replace(b'"open"', b'"dropped"')
            assert body != json.dumps(events).encode()
        elif break_with == "malformed":
            body = b'{"not": "a list of events"'
            signature = base64.b64encode(
                self.sendgrid_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            )
            headers[SIG] = signature.decode()
        genuine = break_with is None
        self._add("/webhooks/sendgrid", body, headers, genuine, rows)

    def twilio(
        self,
        path: str,
        params: dict[str, str],
        *,
        rows: int = 0,
        break_with: str | None = None,
    ) -> None:
        signed_url = self.public_base + path
        token = "not-the-token" if break_with == "forged" else self.twilio_token
        signature = RequestValidator(token).compute_signature(signed_url, params)
        headers = {"X-Twilio-Signature": signature}
        if break_with == "unsigned":
            headers = {}
        elif break_with == "tampered":
            params = {**params, "MessageStatus": "undelivered", "Body": "STOP"}
        elif break_with == "other-attempt":
            path = path.rsplit("=", 1)[0] + "=1"  # the signature covers the URL
        body = str(httpx.QueryParams(params)).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        self._add(path, body, headers, break_with is None, rows)

    def _add(
        self, path: str, body: bytes, headers: dict[str, str], genuine: bool, rows: int
    ) -> None:
        copies = COPIES if genuine else 1
        request = Request(path, body, headers, genuine, rows)
        self.requests.extend([request] * copies)


def fire(base_url: str, requests: list[Request]) -> None:
    """Send every request once, shuffled, from ``THREADS`` threads over real HTTP."""
    order = list(requests)
    random.Random(9).shuffle(order)
    lock = threading.Lock()
    local = threading.local()

    def send(request: Request) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, timeout=30.0)
        client: httpx.Client = local.client
        response = client.post(request.path, content=request.body, headers=request.headers)
        recorded = 0
        if response.status_code == 200:
            if "X-Cadencia-Recorded" in response.headers:
                recorded = int(response.headers["X-Cadencia-Recorded"])
            else:
                recorded = int(response.json()["recorded"])
        with lock:
            request.status.append(response.status_code)
            request.recorded.append(recorded)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, order))


def rows_of(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)))


def points(engine: sa.Engine) -> dict[str, tuple[Any, Any]]:
    with engine.connect() as conn:
        return {
            r.value: (r.opted_out_at, r.wrong_number_at)
            for r in conn.execute(sa.select(ContactPoint))
        }


def test_a_webhook_storm_records_each_genuine_event_once_and_nothing_else(
    database_url: str,
    private_redis: PrivateRedis,
    standin: StandinHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customers = EMAILS + TEXTS
    engine = make_engine(database_url)
    load_rows(engine, portfolio_rows(customers), dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    set_zone(engine, zone_at_local_hour(13))
    # The receiver's public URL (what Twilio signs) is not where it listens, as
    # behind a proxy; nothing listens there, so the stand-in's own status
    # callbacks go nowhere and the storm below is the only webhook traffic.
    public = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(database_url, private_redis.url, standin, webhook_base_url=public)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(private_redis.url)
    world = World(engine, settings, standin, redis, rq_queue(settings.queue, connection=redis))
    emails = [f"U{i}" for i in range(EMAILS)]
    texts = [f"U{i}" for i in range(EMAILS, customers)]
    enqueue_batch(world.queue, world.batch(emails, "email", batch_id="e1"))
    enqueue_batch(world.queue, world.batch(texts, "sms", batch_id="s1"))
    world.drain()
    redis.close()

    before = rows_of(engine)
    sent = {int(r.resolves_id): json.loads(r.extra) for r in before if r.outcome == "sent"}
    attempts = {r.customer_id: r for r in before if r.resolves_id is None}
    assert len(attempts) == customers and len(sent) == customers

    assert settings.channels.twilio is not None
    storm = Storm(standin.state.signing_key, settings.channels.twilio.auth_token, public)
    expected: dict[int, list[str]] = {}
    opted_out: set[str] = set()
    unreachable: set[str] = set()
    now = int(time.time())
    for n, customer in enumerate(emails):
        attempt, address = attempts[customer], attempts[customer].contact_point
        outcome = "bounce" if n % 4 == 0 else "delivered"
        expected[int(attempt.id)] = ["sent", "bounced" if outcome == "bounce" else "delivered"]
        if outcome == "bounce":
            unreachable.add(address)
        events = [
            {"event": outcome, "email": address, "timestamp": now, "attempt_id": str(attempt.id),
             "sg_event_id": f"sg-{n}-{outcome}", "type": "bounce", "reason": "550 no such user"},
            {"event": "open", "email": address, "timestamp": now, "attempt_id": str(attempt.id),
             "sg_event_id": f"sg-{n}-open"},
        ]  # fmt: skip
        storm.sendgrid(events, rows=1)
        for broken in ("unsigned", "tampered", "forged", "replay"):
            storm.sendgrid(events, break_with=broken)
        if n % 6 == 1:  # a genuine unsubscribe: one opt-out row
            opted_out.add(address)
            unsubscribe = {"event": "unsubscribe", "email": address, "timestamp": now,
                           "sg_event_id": f"sg-{n}-unsub"}  # fmt: skip
            storm.sendgrid([unsubscribe], rows=1)
        else:  # a forged one for someone who never asked: nothing may change
            unsubscribe = {"event": "unsubscribe", "email": address, "timestamp": now,
                           "sg_event_id": f"sg-{n}-fake-unsub"}  # fmt: skip
            storm.sendgrid([unsubscribe], break_with="forged")
    storm.sendgrid([], break_with="malformed")

    account = standin.twilio_account_sid
    for n, customer in enumerate(texts):
        attempt = attempts[customer]
        number, sid = attempt.contact_point, str(sent[int(attempt.id)]["provider_id"])
        status = "undelivered" if n % 5 == 0 else "delivered"
        expected[int(attempt.id)] = ["sent", "failed" if status == "undelivered" else "delivered"]
        path = f"/webhooks/twilio/status?attempt={attempt.id}"
        common = {"MessageSid": sid, "To": number, "From": "+15005550006", "AccountSid": account}
        storm.twilio(path, {**common, "MessageStatus": status}, rows=1)
        # a genuine but stale "sent" callback: never written (the job wrote "sent")
        storm.twilio(path, {**common, "MessageStatus": "sent"})
        for broken in ("unsigned", "tampered", "forged", "other-attempt"):
            storm.twilio(path, {**common, "MessageStatus": status}, break_with=broken)
        inbound = {"MessageSid": f"SMin{n}", "From": number, "To": "+15005550006",
                   "Body": "STOP", "AccountSid": account}  # fmt: skip
        if n % 6 == 2:
            opted_out.add(number)
            storm.twilio("/webhooks/twilio/inbound", inbound, rows=1)
        else:
            storm.twilio("/webhooks/twilio/inbound", inbound, break_with="forged")
    assert 200 <= len(storm.requests) <= 400

    points_before = points(engine)
    with serving_webhooks(settings, engine, free_port()) as base:
        fire(base, storm.requests)

    unique = {id(r): r for r in storm.requests}.values()
    for request in unique:
        if request.genuine:
            assert request.status == [200] * COPIES, (request.path, request.status)
            assert sum(request.recorded) == request.events, (request.path, request.recorded)
        else:
            (status,) = request.status
            assert 400 <= status < 500, (request.path, status, request.body[:200])
    bad = [r for r in unique if not r.genuine]
    assert {s for r in bad for s in r.status} == {400, 401, 403}

    after = rows_of(engine)
    new = after[len(before) :]
    assert [r.id for r in after[: len(before)]] == [r.id for r in before]
    assert len(new) == sum(r.events for r in unique if r.genuine)
    keys = [r.idempotency_key for r in new]
    assert len(keys) == len(set(keys))

    state = check_ledger(engine, visibly_pending=[])
    got = {a: [str(o.outcome) for o in state.outcomes[a]] for a in expected}
    assert got == expected
    assert {r.contact_point for r in new if r.kind == "opt_out"} == opted_out
    points_after = points(engine)
    for value, (opted, flagged) in points_after.items():
        was_opted, was_flagged = points_before[value]
        assert (opted is not None) == (value in opted_out or was_opted is not None), value
        assert (flagged is not None) == (value in unreachable or was_flagged is not None), value
    engine.dispose()
