"""An agent's settlement beyond the limits, rejected by a supervisor, in Debian's Chromium.

The console is served live; the agent opens C1 (no campaign chosen: the
offers come from the newest run that planned C1), records a settlement the
terms do not allow, and keeps the desktop open. The manager reaches the
queue from the navigation and rejects it with a reason; the agent's desktop
shows the reason without a reload, pushed on its event stream.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cadencia.console.app import create_web_app
from campaigns.run.state import advance, create_run
from campaigns.storage.db import make_engine
from campaigns.storage.models import OfferRequest, Promise
from tests.web.browser import LiveServer, log_in
from tests.web.conftest import NOW, PASSWORD, seed

pytestmark = [pytest.mark.redis, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def shot(page: Any, name: str) -> None:
    """A screenshot under ``CADENCIA_SCREENSHOTS``, when set (docs/screenshots)."""
    folder = os.environ.get("CADENCIA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@pytest.fixture()
def floor(database_url: str, web_redis: tuple[str, str]) -> Iterator[dict[str, Any]]:
    """The console served live on the seeded portfolio, with today's planned co-tarjetas run."""
    redis_url, namespace = web_redis
    engine = make_engine(database_url)
    seed(engine, NOW)
    run_id = create_run(
        engine, EXAMPLES / "co-tarjetas.toml", NOW.date(), needs_approval=False, now=NOW
    )
    advance(engine, run_id, now=NOW)
    app = create_web_app(
        engine, redis_url=redis_url, namespace=namespace, clock=lambda: NOW, secure_cookies=False
    )
    try:
        with LiveServer(app) as server:
            yield {"engine": engine, "url": server.url}
    finally:
        engine.dispose()


def test_a_rejected_settlement_reaches_the_agents_open_desktop(
    browser: Any, floor: dict[str, Any]
) -> None:
    engine = floor["engine"]
    agent = log_in(browser, floor["url"], "ana", PASSWORD)
    agent.wait_for_url("**/agent")
    agent.fill("#search-q", "C1")
    agent.click("#search")
    agent.click("tr.hit[data-customer=C1] button.open-customer")
    agent.wait_for_selector("#offer-limits")
    assert "under 90 days past due" in agent.inner_text("#offer-limits")
    agent.fill("#settlement-amount", "2,000,000")
    agent.click("#settlement-save")
    agent.wait_for_selector("#notice")
    assert "waits for a supervisor" in agent.inner_text("#notice")
    agent.wait_for_selector("#offer-requests [data-status=pending]")
    agent.wait_for_selector("#statebar[data-live=yes]")  # the event stream is open
    shot(agent, "offers-desktop.png")

    manager = log_in(browser, floor["url"], "mara", PASSWORD)
    manager.wait_for_url("**/dashboard")
    manager.click("nav a[href='/offers']")
    manager.wait_for_url("**/offers")
    card = manager.locator("section.offer-request").first
    assert "settlement discount" in card.inner_text()
    request_id = card.get_attribute("data-request")
    shot(manager, "offers-queue.png")
    manager.click(f"#reject-{request_id}")  # no reason: the browser asks for one
    assert manager.url.endswith("/offers")
    reason = "A settlement needs 90 days past due; offer the 6-payment plan"
    manager.fill(f"#reason-{request_id}", reason)
    manager.click(f"#reject-{request_id}")
    manager.wait_for_selector("#notice")
    assert f"Request {request_id} rejected" in manager.inner_text("#notice")

    # pushed on the desktop's event stream (checked at its heartbeat): no reload
    rejected = agent.locator(f"#offer-requests [data-request='{request_id}'][data-status=rejected]")
    rejected.wait_for(timeout=40_000)
    assert reason in rejected.inner_text()
    with engine.connect() as conn:
        status = conn.execute(sa.select(OfferRequest.status)).scalars().all()
        promises = conn.execute(sa.select(sa.func.count()).select_from(Promise)).scalar_one()
    assert status == ["rejected"] and promises == 0
    agent.context.close()
    manager.context.close()
