"""Issue 21's acceptance, in Debian's Chromium on a 360x740 phone.

The product's message job (an RQ worker on real Redis) texts C1 through the Twilio
stand-in; the link is taken from the text the stand-in captured → identity check → every
debt in one view → a three-instalment plan (its three promises in the database) → the
down payment through Stripe's official SDK and the Checkout stand-in's hosted page → the
stand-in's signed webhook into the real webhook receiver (uvicorn) → the payment is
recorded (payments, ledger) and the first instalment is kept by the product's own
settlement. Every process reads one simulated clock: Tuesday 10:00 in Bogotá, running.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from redis import Redis
from rq import SimpleWorker

from cadencia.portal.app import create_portal_app
from campaigns.ledger.chain import EVENTS, verify
from campaigns.messaging import MessageBatch, PlannedMessage, enqueue_batch
from campaigns.queues import rq_queue, rq_worker
from campaigns.settings import Settings
from campaigns.storage.db import make_engine
from campaigns.storage.models import Account, Payment, Promise
from campaigns.storage.portal import PortalPayment
from campaigns.webhooks import create_webhook_app
from sandbox.providers import StandinHandle
from sandbox.providers.stripe_standin import start_stripe_standin
from tests.portal.conftest import CAMPAIGN, NOW, RIGHT_ANSWER, link_for, seed
from tests.support.components import free_port
from tests.web.browser import LiveServer, browser  # noqa: F401  (the shared fixture)

pytestmark = [pytest.mark.slow, pytest.mark.redis]
WAIT_MS = 15_000
QUEUE = "messages-portal-pay"


@contextlib.contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """``app`` on 127.0.0.1:``port`` (chosen before the app: its URL is in its settings)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"app-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"nothing started on {port}"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture()
def phone(browser: Any) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="es-CO")
    try:
        yield context.new_page()
    finally:
        context.close()


def text_the_link(settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The product's message job, run by an RQ worker from the environment an operator sets."""
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    clock = settings.clock()
    start = clock.now()
    batch = MessageBatch(
        batch_id="portal-pay", campaign=CAMPAIGN, channel="sms", slot_start=start,
        slot_end=start.replace(minute=59), messages=(PlannedMessage("portal-pay:C1:sms", "C1"),),
    )  # fmt: skip
    redis = Redis.from_url(redis_url)
    try:
        queue = rq_queue(QUEUE, connection=redis)
        job = enqueue_batch(queue, batch, clock=clock)
        rq_worker([queue], redis, SimpleWorker).work(burst=True)  # type: ignore[arg-type]
        assert job.get_status(refresh=True) == "finished", job.exc_info
        assert (job.return_value() or {}).get("sent") == 1
    finally:
        redis.close()


def test_a_debtor_takes_a_plan_and_pays_the_down_payment_on_a_phone(
    postgres_url: str, redis_url: str, standin: StandinHandle, phone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    engine = make_engine(postgres_url)
    seed(engine)
    portal_port, receiver_port = free_port(), free_port()
    stripe = start_stripe_standin(webhook_url=f"http://127.0.0.1:{receiver_port}/webhooks/stripe")
    settings = Settings.load({
        **standin.env(), **stripe.env(), "CADENCIA_DATABASE_URL": postgres_url,
        "CADENCIA_REDIS_URL": redis_url, "CADENCIA_MESSAGE_QUEUE": QUEUE,
        "CADENCIA_WEBHOOK_BASE_URL": f"http://127.0.0.1:{receiver_port}",
        "CADENCIA_SIM_CLOCK": f"{NOW.isoformat()},{time.time()},1",
        "CADENCIA_SENDERS": json.dumps({"default": {"sms": "+15005550006"}}),
        "PAYMENT_LINK_URL_PATTERN": f"http://127.0.0.1:{portal_port}/p/{{token}}",
        "PAYMENT_LINK_SECRET": "test-link-secret-0123456789",
    })  # fmt: skip
    clock = settings.clock()
    portal = create_portal_app(engine, clock=clock.now, secret="s", secure_cookies=False,
                               stripe=settings.stripe())  # fmt: skip
    webhooks = create_webhook_app(settings.messaging(), engine, event_clock=clock)
    try:
        with serving(webhooks, receiver_port), serving(portal, portal_port):
            text_the_link(settings, redis_url, monkeypatch)
            (sms,) = standin.state.sent_texts()
            found = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", sms.body or "")
            assert found is not None, sms.body
            walk_through_the_portal(phone, found.group(0), engine)
    finally:
        stripe.stop()
    check_what_was_recorded(engine)
    engine.dispose()


def walk_through_the_portal(page: Any, link: str, engine: Any) -> None:
    """Identity check → every debt → the plan (three promises) → the down payment, paid."""
    page.goto(link)
    page.get_by_label("Los últimos cuatro dígitos").fill(RIGHT_ANSWER)
    page.get_by_role("button", name="Continuar").click()
    page.get_by_role("heading", name="Lo que debe").wait_for(timeout=WAIT_MS)
    text = page.locator("main").inner_text()
    assert "Hola, María" in text and "1.500.000,50" in text and "800.000,00" in text
    page.get_by_role("button", name="Aceptar este plan de 3 pagos").click()
    page.get_by_role("status").wait_for(timeout=WAIT_MS)
    with engine.connect() as conn:
        taken = conn.execute(sa.select(Promise.amount, Promise.status).order_by(Promise.due_on))
        assert [tuple(p) for p in taken] == [
            (Decimal("460000.10"), "pending"), (Decimal("920000.20"), "pending"),
            (Decimal("920000.20"), "pending")]  # fmt: skip
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name=re.compile(r"^Pagar .*460\.000,10")).click()
    page.get_by_role("heading", name="Checkout").wait_for(timeout=WAIT_MS)  # the stand-in's page
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("Pago confirmado").wait_for(timeout=WAIT_MS)
    assert page.url.startswith(link + "?payment=cs_test_")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def check_what_was_recorded(engine: Any) -> None:
    """The payment through the payments path, the first instalment kept, the chain intact."""
    with engine.connect() as conn:
        (payment,) = conn.execute(sa.select(Payment)).all()
        (row,) = conn.execute(sa.select(PortalPayment)).all()
        ledger = conn.execute(
            sa.select(EVENTS.c.kind, EVENTS.c.channel, EVENTS.c.outcome, EVENTS.c.extra)
            .where(EVENTS.c.kind.in_(["payment", "settlement"])).order_by(EVENTS.c.id)
        ).all()  # fmt: skip
        statuses = list(conn.execute(sa.select(Promise.status).order_by(Promise.due_on)).scalars())
    assert (payment.amount, payment.channel, payment.source) == (
        Decimal("460000.10"), "portal", "stripe")  # fmt: skip
    assert payment.reference.startswith("pi_") and payment.reference == row.payment_intent
    assert row.status == "paid"
    assert [(e.kind, e.channel) for e in ledger] == [("payment", "payment"),
                                                     ("settlement", "payment")]  # fmt: skip
    assert ledger[1].outcome == "kept"
    assert json.loads(ledger[0].extra)["reference"] == payment.reference
    assert statuses == ["kept", "pending", "pending"]
    assert verify(engine).ok


def test_the_pay_section_has_no_serious_or_critical_axe_violation(
    postgres_url: str, browser: Any,  # noqa: F811
) -> None:  # fmt: skip
    """axe-core on the pages payments add: Pay, the settlement, an error, a cancelled checkout."""
    from tests.portal.test_portal_payment_http import settings_for, sim_clock

    engine = make_engine(postgres_url)
    seed(engine)
    with engine.begin() as conn:  # 180 days past due: the settlement is offered too
        conn.execute(sa.update(Account).values(days_past_due=180))
    reference = link_for(engine)
    stripe = start_stripe_standin()
    settings = settings_for(stripe, postgres_url, "http://portal.test")
    app = create_portal_app(engine, clock=sim_clock().now, secret="s", secure_cookies=False,
                            stripe=settings.stripe())  # fmt: skip
    # axe is injected through DevTools; the pages keep their CSP, the audit bypasses it.
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="es-CO",
                                  bypass_csp=True)  # fmt: skip
    found: dict[str, list[tuple[str, str]]] = {}
    try:
        page = context.new_page()
        with LiveServer(app) as server:
            page.goto(f"{server.url}/p/{reference}")
            page.get_by_label("Los últimos cuatro dígitos").fill(RIGHT_ANSWER)
            page.get_by_role("button", name="Continuar").click()
            page.get_by_role("heading", name="Pagar ahora").wait_for(timeout=WAIT_MS)
            audit(page, "pay and the settlement", found)
            page.get_by_label(re.compile("^Otro monto")).fill("9.000.000,00")
            page.get_by_role("button", name="Pagar este monto").click()
            page.get_by_role("alert").wait_for(timeout=WAIT_MS)
            audit(page, "an amount over what is owed", found)
            page.goto(f"{server.url}/p/{reference}?payment=cancelled")
            audit(page, "a cancelled checkout", found)
    finally:
        context.close()
        stripe.stop()
        engine.dispose()
    assert len(found) == 3 and not any(found.values()), found


def audit(page: Any, name: str, found: dict[str, list[tuple[str, str]]]) -> None:
    """The page's serious and critical axe violations (id, impact), under ``name``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page).response
    found[name] = [(v["id"], v["impact"]) for v in results["violations"]
                   if v["impact"] in ("serious", "critical")]  # fmt: skip
