"""Paying on the portal over HTTP: Stripe's official SDK against the Checkout stand-in, its
signed webhook into the real webhook receiver (uvicorn), the payment recorded once.

Also: a bad signature is refused and records nothing, a replayed event counts once, a
processor error leaves the row ``failed`` and tells the customer plainly, the settlement
is accepted and payable, and without a key there is no Pay at all.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cadencia.portal.app import create_portal_app
from campaigns.clock import Clock
from campaigns.ledger.chain import EVENTS, verify
from campaigns.settings import Settings
from campaigns.storage.db import make_engine
from campaigns.storage.models import Account, Payment, Promise
from campaigns.storage.portal import PortalPayment, ProcessorEvent
from campaigns.webhooks import create_webhook_app
from sandbox.providers import stripe_wire
from sandbox.providers.stripe_standin import StripeStandin, start_stripe_standin
from tests.portal.conftest import NOW, RIGHT_ANSWER, link_for, seed
from tests.web.browser import LiveServer

PORTAL = "http://portal.test"


@dataclass
class PayBed:
    """A seeded database, the Stripe stand-in, the webhook receiver over HTTP, C1's link."""

    engine: Engine
    clock: Clock
    stripe: StripeStandin
    settings: Settings
    webhooks_url: str
    reference: str

    def portal(self, *, with_stripe: bool = True) -> FastAPI:
        """The portal app as ``cadencia portal`` builds it from the settings."""
        stripe = self.settings.stripe() if with_stripe else None
        return create_portal_app(
            self.engine, clock=self.clock.now, secret="s", secure_cookies=False, stripe=stripe
        )


def settings_for(stripe: StripeStandin, database_url: str, portal_url: str) -> Settings:
    """The settings an operator would set: the stand-in's Stripe variables, the link pattern."""
    return Settings.load({
        **stripe.env(), "CADENCIA_DATABASE_URL": database_url,
        "PAYMENT_LINK_URL_PATTERN": f"{portal_url}/p/{{token}}",
        "PAYMENT_LINK_SECRET": "test-link-secret-0123456789",
    })  # fmt: skip


def sim_clock() -> Clock:
    """The portal's and the receiver's clock: ``NOW`` (Tuesday 10:00 Bogotá), running."""
    return Clock(sim_start=NOW, real_start=time.time(), factor=1.0)


@pytest.fixture()
def paybed(database_url: str) -> Iterator[PayBed]:
    engine = make_engine(database_url)
    seed(engine)
    clock = sim_clock()
    stripe = start_stripe_standin()
    settings = settings_for(stripe, database_url, PORTAL)
    webhooks = create_webhook_app(settings.messaging(), engine, event_clock=clock)
    try:
        with LiveServer(webhooks) as receiver:
            stripe.state.webhook_url = f"{receiver.url}/webhooks/stripe"
            yield PayBed(engine, clock, stripe, settings, receiver.url, link_for(engine))
    finally:
        stripe.stop()
        engine.dispose()


def verified(client: TestClient, reference: str) -> str:
    """Pass the identity check; the page's CSRF token."""
    check = client.post(f"/p/{reference}/check", data={"answer": RIGHT_ANSWER},
                        follow_redirects=False)  # fmt: skip
    assert check.status_code == 303
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/p/{reference}").text)
    assert token is not None
    return token.group(1)


def submit(
    client: TestClient, reference: str, action: str, csrf: str, **form: str
) -> httpx.Response:
    return client.post(f"/p/{reference}/{action}", follow_redirects=False,
                       data={"csrf": csrf, "nonce": "n" * 20 + action, **form})  # fmt: skip


def rows(engine: Engine, table: type) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table)).all())


def promises(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Promise).order_by(Promise.due_on, Promise.id)).all())


def post_event(bed: PayBed, event: dict[str, object], secret: str) -> httpx.Response:
    payload = json.dumps(event).encode("utf-8")
    return httpx.post(f"{bed.webhooks_url}/webhooks/stripe", content=payload, headers={
        "Stripe-Signature": stripe_wire.signature(secret, payload),
        "Content-Type": "application/json"}, trust_env=False)  # fmt: skip


def test_the_down_payment_is_paid_through_checkout_and_recorded_once(paybed: PayBed) -> None:
    with TestClient(paybed.portal()) as client:
        csrf = verified(client, paybed.reference)
        home = client.get(f"/p/{paybed.reference}")
        assert f"form-action 'self' {paybed.stripe.base_url};" in home.headers[
            "content-security-policy"]  # fmt: skip
        assert submit(client, paybed.reference, "plan", csrf, plan="plan-3").status_code == 303
        first = promises(paybed.engine)[0]
        paying = submit(client, paybed.reference, "pay", csrf, promise=str(first.id))
        assert paying.status_code == 303
        assert paying.headers["location"].startswith(f"{paybed.stripe.base_url}/c/pay/cs_test_")
        (row,) = rows(paybed.engine, PortalPayment)
        assert (row.status, row.amount, row.currency, row.purpose, row.promise_id) == (
            "open",
            Decimal("460000.10"),
            "COP",
            "promise",
            first.id,
        )
        session = paybed.stripe.state.sessions[row.session_id]
        # Our row's id, the amount in Stripe's minor unit; nothing about who owes what.
        assert session["metadata"] == {"portal_payment": str(row.id)}
        assert session["client_reference_id"] == str(row.id)
        assert (session["amount_total"], session["currency"]) == (46000010, "cop")
        assert not {"María", "Núñez", "C1", "A1", "A2"} & set(
            re.findall(r"\w+", json.dumps(session))
        )

        # A forged confirmation (wrong secret) is refused and records nothing.
        forged = stripe_wire.completed_event(
            {**session, "payment_status": "paid", "payment_intent": "pi_forged"}, int(time.time())
        )
        assert post_event(paybed, forged, "whsec_not_the_secret").status_code == 400
        assert rows(paybed.engine, Payment) == [] and rows(paybed.engine, ProcessorEvent) == []

        # The customer pays on the hosted page; its signed webhook reaches the receiver.
        paid = httpx.post(paying.headers["location"], follow_redirects=False, trust_env=False)
        assert paid.status_code == 303
        assert paid.headers["location"] == f"{PORTAL}/p/{paybed.reference}?payment={row.session_id}"
        (delivery,) = paybed.stripe.state.deliveries
        assert delivery.status == 200
        # Stripe retries a delivery: the replay changes nothing.
        assert paybed.stripe.redeliver(delivery.event_id) == 200
        back = client.get(f"/p/{paybed.reference}?payment={row.session_id}")
        assert "Pago confirmado" in back.text
    (payment,) = rows(paybed.engine, Payment)
    intent = paybed.stripe.state.sessions[row.session_id]["payment_intent"]
    assert (payment.reference, payment.channel, payment.source, payment.method) == (
        intent,
        "portal",
        "stripe",
        "stripe",
    )
    assert payment.amount == Decimal("460000.10")
    with paybed.engine.connect() as conn:
        account = conn.execute(sa.select(Account.external_id).where(
            Account.id == payment.account_id)).scalar()  # fmt: skip
        ledger = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "payment")).all()
    assert account == "A1"  # the most days past due is paid first
    assert [json.loads(e.extra)["paid_channel"] for e in ledger] == ["portal"]
    assert [p.status for p in promises(paybed.engine)] == ["kept", "pending", "pending"]
    (row,) = rows(paybed.engine, PortalPayment)
    assert (row.status, row.payment_intent) == ("paid", intent)
    assert [e.outcome for e in rows(paybed.engine, ProcessorEvent)] == ["recorded"]
    assert verify(paybed.engine).ok


def test_other_events_are_acknowledged_and_ignored(paybed: PayBed) -> None:
    intent = {"id": "pi_1", "object": "payment_intent"}
    event = {"id": "evt_other", "object": "event", "type": "payment_intent.succeeded",
             "created": int(time.time()), "data": {"object": intent}}  # fmt: skip
    secret = paybed.stripe.state.webhook_secret
    answer = post_event(paybed, event, secret)
    assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"
    assert post_event(paybed, event, secret).json()["outcome"] == "duplicate"
    assert rows(paybed.engine, Payment) == []


def test_a_processor_error_leaves_the_row_failed_and_says_so_plainly(paybed: PayBed) -> None:
    with TestClient(paybed.portal()) as client:
        csrf = verified(client, paybed.reference)
        paybed.stripe.state.fail_next(400, kind="invalid_request_error", message="No such price")
        refused = submit(client, paybed.reference, "pay", csrf, amount="100.000,00")
        assert refused.status_code == 503
        assert "Ahora no podemos recibir pagos en línea. No se cobró nada" in refused.text
        # Stripe's 5xx: the SDK retries twice with the same idempotency key, then gives up.
        paybed.stripe.state.fail_next(500, count=3)
        later = submit(client, paybed.reference, "pay", csrf, amount="100.000,00")
        assert later.status_code == 503 and "intente de nuevo en unos minutos" in later.text
    failed = rows(paybed.engine, PortalPayment)
    assert [(r.status, r.amount) for r in failed] == [("failed", Decimal("100000.00"))] * 2
    assert failed[0].reason.startswith("no retry: stripe InvalidRequestError (HTTP 400)")
    assert failed[1].reason.startswith("retry: stripe APIError (HTTP 500)")
    assert rows(paybed.engine, Payment) == []


def test_an_amount_above_what_is_owed_is_refused_before_the_processor(paybed: PayBed) -> None:
    with TestClient(paybed.portal()) as client:
        csrf = verified(client, paybed.reference)
        too_much = submit(client, paybed.reference, "pay", csrf, amount="3.000.000,00")
        assert too_much.status_code == 400 and "no superar lo que debe" in too_much.text
    assert rows(paybed.engine, PortalPayment) == [] and paybed.stripe.state.requests == 0


def test_the_settlement_is_accepted_as_one_promise_and_is_payable(paybed: PayBed) -> None:
    with paybed.engine.begin() as conn:
        conn.execute(sa.update(Account).values(days_past_due=180))  # 90 days past the threshold
    with TestClient(paybed.portal()) as client:
        csrf = verified(client, paybed.reference)
        assert submit(client, paybed.reference, "settlement", csrf).status_code == 303
        assert submit(client, paybed.reference, "settlement", csrf).status_code == 303  # replay
        (promise,) = promises(paybed.engine)
        # 20 % off 2.300.000,50, due by the end of the 30-day window.
        assert (promise.amount, promise.due_on) == (Decimal("1840000.40"), dt.date(2026, 12, 24))
        page = client.get(f"/p/{paybed.reference}").text
        assert "1.840.000,40" in page and "Pagar ahora" in page
        paying = submit(client, paybed.reference, "pay", csrf, promise=str(promise.id))
        assert paying.status_code == 303
    with paybed.engine.connect() as conn:
        (event,) = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "promise")).all()
    extra = json.loads(event.extra)
    assert extra["settlement"] == {"discount": "0.2", "total": "2300000.50"}
    assert (event.channel, event.direction, extra["amount"]) == ("self_service", "inbound",
                                                                 "1840000.40")  # fmt: skip
    (row,) = rows(paybed.engine, PortalPayment)
    assert (row.amount, row.status) == (Decimal("1840000.40"), "open")


def test_without_a_key_there_is_no_pay_button(paybed: PayBed) -> None:
    with TestClient(paybed.portal(with_stripe=False)) as client:
        csrf = verified(client, paybed.reference)
        page = client.get(f"/p/{paybed.reference}")
        assert "Pagar ahora" not in page.text
        assert "form-action 'self';" in page.headers["content-security-policy"]
        assert submit(client, paybed.reference, "pay", csrf, amount="1,00").status_code == 404


def open_checkout(client: TestClient, bed: PayBed) -> str:
    """Verify, take the plan, start paying its down payment; the hosted page's URL."""
    csrf = verified(client, bed.reference)
    assert submit(client, bed.reference, "plan", csrf, plan="plan-3").status_code == 303
    first = promises(bed.engine)[0]
    paying = submit(client, bed.reference, "pay", csrf, promise=str(first.id))
    assert paying.status_code == 303
    return str(paying.headers["location"])


def test_the_page_says_being_confirmed_until_the_webhook_lands(paybed: PayBed) -> None:
    paybed.stripe.state.webhook_url, receiver = None, paybed.stripe.state.webhook_url
    with TestClient(paybed.portal()) as client:
        hosted = open_checkout(client, paybed)
        back = httpx.post(hosted, follow_redirects=False, trust_env=False).headers["location"]
        returned = back.removeprefix(PORTAL)
        assert "Pago recibido: lo estamos confirmando" in client.get(returned).text
        assert rows(paybed.engine, Payment) == []
        paybed.stripe.state.webhook_url = receiver
        (delivery,) = paybed.stripe.state.deliveries
        assert paybed.stripe.redeliver(delivery.event_id) == 200
        assert "Pago confirmado" in client.get(returned).text
    assert len(rows(paybed.engine, Payment)) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_simultaneous_deliveries_of_one_event_record_it_once(paybed: PayBed) -> None:
    paybed.stripe.state.webhook_url, receiver = None, paybed.stripe.state.webhook_url
    with TestClient(paybed.portal()) as client:
        hosted = open_checkout(client, paybed)
        httpx.post(hosted, follow_redirects=False, trust_env=False)
    paybed.stripe.state.webhook_url = receiver
    (delivery,) = paybed.stripe.state.deliveries
    answers: list[int | None] = []
    threads = [
        threading.Thread(target=lambda: answers.append(paybed.stripe.redeliver(delivery.event_id)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [200] * 4
    assert len(rows(paybed.engine, Payment)) == 1
    assert [p.status for p in promises(paybed.engine)] == ["kept", "pending", "pending"]
    assert verify(paybed.engine).ok
