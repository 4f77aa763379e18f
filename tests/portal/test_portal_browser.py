"""The portal in Debian's Chromium on a 360x740 phone: link → identity check → every debt →
accept a three-instalment plan → its promises exist, tracked like an agent's."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from cadencia.portal.app import create_portal_app
from campaigns.ledger.chain import EVENTS, verify
from campaigns.storage.db import make_engine
from campaigns.storage.models import Promise
from tests.portal.conftest import NOW, RIGHT_ANSWER, Clock, link_for, seed
from tests.web.browser import LiveServer, browser  # noqa: F401  (the shared fixture)

pytestmark = pytest.mark.slow
WAIT_MS = 15_000


@pytest.fixture()
def phone(browser: Any) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="es-CO")
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_debtor_takes_a_three_instalment_plan_on_a_phone(postgres_url: str, phone: Any) -> None:
    engine = make_engine(postgres_url)
    seed(engine)
    reference = link_for(engine)
    app = create_portal_app(engine, clock=Clock(NOW), secret="s", secure_cookies=False)
    with LiveServer(app) as server:
        page = phone
        response = page.goto(f"{server.url}/p/{reference}")
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "María" not in page.content()  # nothing before the check
        page.get_by_label("Los últimos cuatro dígitos").fill(RIGHT_ANSWER)
        page.get_by_role("button", name="Continuar").click()
        page.get_by_role("heading", name="Lo que debe").wait_for(timeout=WAIT_MS)
        text = page.locator("main").inner_text()
        # Both debts, in one view, as Colombia writes money.
        assert "Hola, María" in text
        assert "1.500.000,50" in text and "800.000,00" in text
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.locator("script").count() == 0
        page.get_by_role("button", name="Aceptar este plan de 3 pagos").click()
        page.get_by_role("status").wait_for(timeout=WAIT_MS)
        assert "Sus compromisos de pago" in page.locator("main").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with engine.connect() as conn:
        promises = conn.execute(sa.select(Promise).order_by(Promise.due_on)).all()
        kinds = conn.execute(
            sa.select(EVENTS.c.kind, EVENTS.c.channel, EVENTS.c.direction, EVENTS.c.id)
            .where(EVENTS.c.kind == "promise")
            .order_by(EVENTS.c.id)
        ).all()
    assert [p.amount for p in promises] == [
        Decimal("460000.10"),
        Decimal("920000.20"),
        Decimal("920000.20"),
    ]
    assert {(p.status, p.source, p.currency, p.account_id) for p in promises} == {
        ("pending", "self_service", "COP", None)
    }
    assert [p.ledger_event_id for p in promises] == [k.id for k in kinds]
    assert {(k.channel, k.direction) for k in kinds} == {("self_service", "inbound")}
    assert verify(engine).ok
    engine.dispose()
