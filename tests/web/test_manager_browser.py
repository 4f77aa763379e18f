"""A campaign manager's morning in a real headless Chromium (Debian's), browser only.

The data is made by the product's own code, as an operator would with the
CLI: a generated portfolio validated and imported (``cadencia portfolio
generate`` / ``import``), yesterday's run planned and released (``cadencia
run``), today's run planned and held for approval (``cadencia run --approve``).
Then, in the browser only, the manager finds yesterday's run with the date
picker, reads its plan review, approves today's plan, and looks up why a
customer of yesterday's run was left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.run.state import advance, create_run, status
from campaigns.storage.db import make_engine
from campaigns.storage.models import RunAction, RunCustomer
from tests.web.browser import LiveServer, log_in
from tests.web.conftest import NOW, PASSWORD

pytestmark = [pytest.mark.redis, pytest.mark.slow]
CAMPAIGN = Path(__file__).resolve().parents[2] / "examples" / "co-tarjetas.toml"
TODAY = NOW.date()
YESTERDAY = TODAY - dt.timedelta(days=1)


@pytest.fixture()
def morning(
    database_url: str, web_redis: tuple[str, str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The console served live on a database holding yesterday's and today's runs."""
    redis_url, namespace = web_redis
    engine = make_engine(database_url)
    file = tmp_path / "portfolio.csv"
    generate_file(file, 300, seed=7, countries=("CO",))
    portfolio = validate_file(file)
    assert portfolio.errors == []
    load_portfolio(engine, portfolio, now=NOW - dt.timedelta(days=2))
    create_user(engine, "mara", PASSWORD, "manager", now=NOW)
    yesterday = create_run(engine, CAMPAIGN, YESTERDAY, needs_approval=False, now=NOW)
    assert advance(engine, yesterday, now=NOW - dt.timedelta(days=1)) == "approved"
    today = create_run(engine, CAMPAIGN, TODAY, needs_approval=True, now=NOW)
    assert advance(engine, today, now=NOW) == "awaiting_approval"
    keys = redis.Redis.from_url(redis_url)
    before = set(keys.keys("*"))
    app = create_web_app(
        engine, redis_url=redis_url, namespace=namespace, clock=lambda: NOW, secure_cookies=False
    )
    try:
        with LiveServer(app) as server:
            yield {"engine": engine, "url": server.url, "yesterday": yesterday, "today": today}
    finally:
        # The approved plan's RQ jobs and hoppers, which no worker will run.
        new = [k for k in keys.keys("*") if k not in before and not k.startswith(b"cadencia-")]
        if new:
            keys.delete(*new)
        keys.close()
        engine.dispose()


def test_a_managers_morning_in_the_browser(browser: Any, morning: dict[str, Any]) -> None:
    engine, yesterday, today = morning["engine"], morning["yesterday"], morning["today"]
    page = log_in(browser, morning["url"], "mara", PASSWORD)
    page.wait_for_url("**/dashboard")

    # Yesterday's run, found with the date picker from the navigation.
    page.click("nav >> text=Runs")
    page.wait_for_url("**/runs")
    page.fill("#day", YESTERDAY.isoformat())
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**/runs?*day={YESTERDAY.isoformat()}*")
    rows = page.locator("#runs tr[data-run]")
    assert rows.count() == 1 and "co-tarjetas" in rows.inner_text()
    rows.locator("a").click()
    page.wait_for_url(f"**/runs/{yesterday}")

    # Its plan review: figures written for people, the glossary, the charts.
    review = page.inner_text("#review")
    assert "Plan review" in review and "Money collected per arm" in review
    assert "attempts planned" in review and "COP" in review
    assert "Shadow price:" in review and "Upper bound:" in review
    assert page.locator("#charts img").count() >= 1
    left_out_customer = page.locator("#left-out a").first.inner_text()

    # Today's plan waits for approval: the manager approves it.
    page.click("nav >> text=Runs")
    page.fill("#day", TODAY.isoformat())
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**/runs?*day={TODAY.isoformat()}*")
    assert "awaiting approval" in page.inner_text("#runs")
    page.locator(f"#runs tr[data-run='{today}'] a").click()
    page.wait_for_url(f"**/runs/{today}")
    assert "awaiting approval" in page.inner_text("#run-state")
    page.click("text=Approve and launch")
    page.wait_for_selector("#done")
    assert "Approve by mara" in page.inner_text("#done")
    assert page.inner_text("#run-state") == "executing"
    assert "mara (manager)" in page.inner_text("#history")
    assert status(engine, today).state == "executing"
    with engine.connect() as conn:
        who = conn.execute(sa.select(RunAction.username).where(RunAction.run_id == today)).all()
    assert who == [("mara",)]

    # Why was that customer left out yesterday? The lookup says, as stored.
    page.click("nav >> text=Customer lookup")
    page.fill("#customer_id", left_out_customer)
    page.click("form[role=search] button")
    page.wait_for_selector(".lookup-run")
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(RunCustomer.left_out_reason).where(
                RunCustomer.run_id == yesterday, RunCustomer.customer_id == left_out_customer
            )
        ).scalar_one()
    found = page.inner_text(f".lookup-run[data-run='{yesterday}']")
    assert stored and stored in found and "Left out" in found
    page.context.close()
