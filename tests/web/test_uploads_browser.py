"""A manager loads the day's files in a real headless Chromium (Debian's), browser only.

The console is served live (uvicorn) on a database with one manager and a
campaign directory; the manager reaches the pages from the navigation,
uploads a portfolio file with an error (shown by line and field, nothing
loaded), then the corrected file (loaded, counted), a payments file, and
reads the campaign files' validation status.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.portfolio.view import customer_360
from campaigns.storage.db import make_engine
from campaigns.storage.models import Customer, Payment
from tests.support.portfolio import row, to_csv
from tests.web.browser import LiveServer, log_in
from tests.web.conftest import NOW, PASSWORD

pytestmark = [pytest.mark.redis, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture()
def office(
    database_url: str, web_redis: tuple[str, str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The console served live with an empty portfolio, a manager and two campaign files."""
    redis_url, namespace = web_redis
    engine = make_engine(database_url)
    create_user(engine, "mara", PASSWORD, "manager", now=NOW)
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    shutil.copy(EXAMPLES / "co-tarjetas.toml", campaigns / "co-tarjetas.toml")
    (campaigns / "draft.toml").write_text('name = "Draft"\n', encoding="utf-8")
    app = create_web_app(
        engine,
        redis_url=redis_url,
        namespace=namespace,
        clock=lambda: NOW,
        secure_cookies=False,
        campaign_dir=campaigns,
    )
    try:
        with LiveServer(app) as server:
            yield {"engine": engine, "url": server.url, "files": tmp_path}
    finally:
        engine.dispose()


def test_a_manager_loads_the_days_files_in_the_browser(
    browser: Any, office: dict[str, Any]
) -> None:
    engine, files = office["engine"], office["files"]
    rows = [row(), row(account_id="A2", product="personal_loan", balance="")]
    bad = files / "cartera-mala.csv"
    bad.write_text(to_csv(rows), encoding="utf-8")
    rows[1]["balance"] = "800000"
    good = files / "cartera.csv"
    good.write_text(to_csv(rows), encoding="utf-8")
    payments = files / "pagos.csv"
    payments.write_text(
        "account_id,amount,currency,paid_at,reference\nA1,50000,COP,2026-11-23,REF-1\n",
        encoding="utf-8",
    )
    page = log_in(browser, office["url"], "mara", PASSWORD)
    page.wait_for_url("**/dashboard")

    page.click("nav a[href='/uploads']")
    page.wait_for_url("**/uploads")
    page.set_input_files("#portfolio-file", str(bad))
    page.click("#portfolio-upload button[type=submit]")
    rejected = page.locator("#upload-rejected")
    rejected.wait_for()
    text = rejected.inner_text()
    assert "cartera-mala.csv was not loaded (errors: 1)" in text and "balance" in text
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one() == 0

    page.set_input_files("#portfolio-file", str(good))
    page.click("#portfolio-upload button[type=submit]")
    page.locator("#upload-done").wait_for()
    assert "cartera.csv was loaded" in page.inner_text("#upload-done")
    assert len(customer_360(engine, "C1")["accounts"]) == 2

    page.set_input_files("#payments-file", str(payments))
    page.click("#payments-upload button[type=submit]")
    page.locator("#upload-done").wait_for()
    assert "pagos.csv was loaded" in page.inner_text("#upload-done")
    with engine.connect() as conn:
        assert conn.execute(sa.select(Payment.reference)).scalars().all() == ["REF-1"]
    assert "mara" in page.inner_text("#recent-uploads")

    page.click("nav a[href='/campaigns']")
    page.wait_for_url("**/campaigns")
    table = page.inner_text("#campaign-files")
    assert "co-tarjetas.toml" in table and "valid" in table
    assert "draft.toml" in table and "not valid" in table and "line 1, name:" in table
    page.context.close()
