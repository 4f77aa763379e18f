"""The day's files from the browser, and the campaign files with their validation status.

The uploads go through the console's forms as a browser posts them
(multipart, with the session's CSRF token) and land through the same
importers as ``cadencia portfolio import`` and ``cadencia payments import``;
what they loaded is read back through the product's own views
(``customer_360``, the manager's customer lookup, the admin log).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cadencia.console.app import create_web_app
from cadencia.console.i18n import UNTRANSLATED
from campaigns.portfolio.view import CustomerNotFound, customer_360
from campaigns.storage.db import make_engine
from campaigns.storage.models import Payment
from tests.support.clock import Clock
from tests.support.portfolio import row, to_csv
from tests.web.conftest import NOW, Console, seed

pytestmark = pytest.mark.redis
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _new_customer_rows() -> list[dict[str, str]]:
    return [
        row(customer_id="C7", customer_name="Jorge Ríos", account_id="A7", phone_1="310 555 1234"),
        row(customer_id="C7", customer_name="Jorge Ríos", account_id="A8", phone_1="310 555 1234"),
    ]


def upload(
    console: Console, kind: str, name: str, body: bytes, csrf: str | None, **fields: str
) -> object:
    data = {"csrf": csrf, **fields} if csrf is not None else dict(fields)
    return console.client.post(
        f"/uploads/{kind}", data=data, files={"file": (name, body, "text/csv")}
    )


def test_a_good_portfolio_file_is_loaded_and_summarised(console: Console) -> None:
    client = console.login("mara")
    page = client.get("/uploads")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert 'href="/uploads"' in page.text and 'href="/campaigns"' in page.text  # navigation
    csrf = console.csrf("/uploads")
    body = to_csv(_new_customer_rows()).encode()
    done = upload(console, "portfolio", "cartera-2026-11-24.csv", body, csrf)
    assert done.status_code == 200, done.text  # type: ignore[attr-defined]
    text = done.text  # type: ignore[attr-defined]
    assert "cartera-2026-11-24.csv was loaded" in text
    assert '<th>new accounts</th><td class="num">2</td>' in text

    view = customer_360(console.engine, "C7")
    assert view["name"] == "Jorge Ríos"
    assert sorted(a["account_id"] for a in view["accounts"]) == ["A7", "A8"]
    found = client.get("/customers/lookup?customer_id=C7")
    assert found.status_code == 200 and "No customer" not in found.text
    # Who uploaded it is recorded: the uploads page and the admin log show it.
    recent = client.get("/uploads").text
    assert "mara" in recent and "cartera-2026-11-24.csv" in recent
    console.login("cora")
    log = console.client.get("/admin/log").text
    assert "portfolio file uploaded" in log and "cartera-2026-11-24.csv" in log


def test_a_bad_portfolio_file_shows_its_line_and_field_and_loads_nothing(
    console: Console,
) -> None:
    console.login("mara")
    csrf = console.csrf("/uploads")
    rows = _new_customer_rows()
    rows[1]["balance"] = "15O000"  # the letter O: line 3, field balance
    rows[0]["phone_1"] = "<b>123</b>"
    shown = upload(console, "portfolio", "cartera.csv", to_csv(rows).encode(), csrf)
    assert shown.status_code == 422  # type: ignore[attr-defined]
    text = shown.text  # type: ignore[attr-defined]
    assert "cartera.csv was not loaded" in text and "Nothing was changed" in text
    assert '<td class="num">3</td><td><code>balance</code></td>' in text
    assert "<b>123</b>" not in text and "&lt;b&gt;123&lt;/b&gt;" in text  # escaped
    with pytest.raises(CustomerNotFound):
        customer_360(console.engine, "C7")  # nothing of the file was loaded


def test_a_payments_file_is_recorded_and_a_wrong_one_refused(console: Console) -> None:
    console.login("mara")
    csrf = console.csrf("/uploads")
    good = (
        "account_id,amount,currency,paid_at,reference\n"
        "A1,250000.00,COP,2026-11-24T09:30:00-05:00,BANK-1\n"
    )
    done = upload(console, "payments", "pagos.csv", good.encode(), csrf)
    assert done.status_code == 200, done.text  # type: ignore[attr-defined]
    assert "pagos.csv was loaded" in done.text  # type: ignore[attr-defined]
    assert "COP250,000" in done.text  # type: ignore[attr-defined]
    with console.engine.connect() as conn:
        paid = conn.execute(sa.select(Payment.reference, Payment.amount)).all()
    assert paid == [("BANK-1", Decimal("250000.00"))]
    balances = {
        a["account_id"]: a["balance"] for a in customer_360(console.engine, "C1")["accounts"]
    }
    assert Decimal(balances["A1"]) == Decimal("1250000.50")

    wrong = (
        "account_id,amount,currency,paid_at,reference\n"
        "A1,100.00,COP,2026-11-24,BANK-2\n"
        "NOPE,150000,50,COP,2026-11-24,BANK-3\n"
        "ZZ9,100.00,COP,2026-11-24,BANK-4\n"
    )
    refused = upload(console, "payments", "pagos-2.csv", wrong.encode(), csrf)
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert '<td class="num">3</td><td><code>row</code></td>' in refused.text  # type: ignore[attr-defined]
    # The file parses but names an unknown account: the importer's check, all or none.
    unknown = (
        "account_id,amount,currency,paid_at,reference\n"
        "A1,1.00,COP,2026-11-23,B5\n"
        "ZZ9,1.00,COP,2026-11-23,B6\n"
    )
    refused = upload(console, "payments", "pagos-3.csv", unknown.encode(), csrf)
    assert '<td class="num">3</td><td><code>account_id</code></td>' in refused.text  # type: ignore[attr-defined]
    with console.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Payment)).scalar_one() == 1


def test_only_a_manager_uploads_with_a_valid_form(console: Console) -> None:
    body = to_csv(_new_customer_rows()).encode()
    console.login("ana")  # an agent
    assert console.client.get("/uploads").status_code == 403
    csrf = console.csrf("/agent")
    refused = upload(console, "portfolio", "cartera.csv", body, csrf)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert console.client.get("/campaigns").status_code == 403

    console.login("mara")
    no_token = upload(console, "portfolio", "cartera.csv", body, None)
    assert no_token.status_code == 403 and "CSRF" in no_token.text  # type: ignore[attr-defined]
    with pytest.raises(CustomerNotFound):
        customer_360(console.engine, "C7")


@pytest.fixture()
def small_console(
    database_url: str, web_redis: tuple[str, str], tmp_path: Path
) -> Iterator[Console]:
    """The console with a campaign directory (a valid and an invalid file) and a 1 KiB cap."""
    redis_url, namespace = web_redis
    shutil.copy(EXAMPLES / "co-tarjetas.toml", tmp_path / "co-tarjetas.toml")
    broken = (EXAMPLES / "us-cards.toml").read_text(encoding="utf-8")
    broken = broken.replace('currency = "USD"', 'currency = "dollars"')
    (tmp_path / "us-broken.toml").write_text(broken, encoding="utf-8")
    engine = make_engine(database_url)
    seed(engine, NOW)
    clock = Clock(NOW)
    app = create_web_app(
        engine,
        redis_url=redis_url,
        namespace=namespace,
        clock=clock,
        secure_cookies=False,
        campaign_dir=tmp_path,
        max_upload_bytes=1024,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        with TestClient(app) as http:
            yield Console(engine, client, namespace, clock, http)
    finally:
        client.close()
        engine.dispose()


def test_campaign_files_with_their_validation_status(small_console: Console) -> None:
    small_console.login("mara")
    page = small_console.client.get("/campaigns")
    assert page.status_code == 200
    text = page.text
    assert "co-tarjetas.toml" in text and "us-broken.toml" in text
    assert "America/Bogota" in text and ">CO<" in text
    assert "valid" in text and "not valid (errors: 1)" in text
    assert "line 3, currency:" in text  # the field named, with its line


def test_a_file_over_the_cap_is_refused_unread(small_console: Console) -> None:
    small_console.login("mara")
    csrf = small_console.csrf("/uploads")
    body = to_csv(_new_customer_rows() * 10).encode()
    assert len(body) > 1024
    refused = upload(small_console, "portfolio", "big.csv", body, csrf)
    assert refused.status_code == 413  # type: ignore[attr-defined]
    assert "larger than the 1 KiB" in refused.text  # type: ignore[attr-defined]
    with pytest.raises(CustomerNotFound):
        customer_360(small_console.engine, "C7")


def test_console_without_a_campaign_directory_says_which_setting(console: Console) -> None:
    console.login("mara")
    page = console.client.get("/campaigns")
    assert page.status_code == 200 and "CADENCIA_CAMPAIGN_DIR" in page.text


def test_an_upload_refused_before_login_is_not_read(small_console: Console) -> None:
    body = to_csv(_new_customer_rows() * 10).encode()
    refused = small_console.client.post(
        "/uploads/portfolio", files={"file": ("big.csv", body, "text/csv")}
    )
    assert refused.status_code == 413  # the size is judged before the form is parsed


def test_a_rejected_file_in_spanish(console: Console) -> None:
    client = console.login("mara")
    csrf = console.csrf("/profile")
    saved = client.post(
        "/profile",
        data={"csrf": csrf, "language": "es", "timezone": "America/Bogota"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    UNTRANSLATED.clear()
    rows = _new_customer_rows()
    rows[1]["balance"] = "15O000"
    shown = upload(console, "portfolio", "cartera.csv", to_csv(rows).encode(), csrf)
    text = shown.text  # type: ignore[attr-defined]
    assert "No se cargó el archivo de cartera cartera.csv (errores: 1)" in text
    assert '<th class="num">línea</th><th>campo</th>' in text
    # the importer's own message, in Spanish
    assert "no es un número (use &#39;.&#39; para los decimales" in text
    assert UNTRANSLATED.get("es", set()) == set()
