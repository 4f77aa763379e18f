"""The signed payments API over real HTTP: HMAC, a key id and a timestamp; once per reference."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from campaigns.ledger.chain import EVENTS
from campaigns.payments.signature import HEADER, MAX_BODY_BYTES, sign
from campaigns.settings import MessagingSettings
from campaigns.storage.db import make_engine
from campaigns.storage.models import Payment
from channels import ChannelSettings
from tests.support.components import free_port
from tests.support.portfolio import load_rows, row
from tests.support.webhooks import serving_webhooks

SECRET = "bank-secret-0123456789"
KEYS = {"bank-2026": SECRET}


@pytest.fixture()
def api(database_url: str) -> Iterator[tuple[str, str]]:
    engine = make_engine(database_url)
    load_rows(
        engine, [row(customer_id="C1", account_id="A1")], dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    )
    settings = MessagingSettings(
        database_url=database_url,
        redis_url="redis://127.0.0.1:6379/15",
        channels=ChannelSettings.from_mapping({}),
        payment_keys=KEYS,
    )
    try:
        with serving_webhooks(settings, engine, free_port()) as base:
            yield f"{base}/webhooks/payments", database_url
    finally:
        engine.dispose()


def body(reference: str = "BANK-1", amount: object = "150000.50") -> bytes:
    payment = {
        "account_id": "A1",
        "amount": amount,
        "currency": "COP",
        "paid_at": "2026-01-06T10:30:00-05:00",
        "reference": reference,
        "method": "PSE",
    }
    return json.dumps({"payments": [payment]}).encode()


def post(url: str, data: bytes, *, stamp: int | None = None, key: str = "bank-2026",
         secret: str = SECRET, header: bool = True) -> httpx.Response:  # fmt: skip
    headers = {"Content-Type": "application/json"}
    if header:
        headers[HEADER] = sign(secret, key, stamp or int(time.time()), data)
    return httpx.post(url, content=data, headers=headers, timeout=10)


def recorded(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        payments = conn.execute(sa.select(sa.func.count()).select_from(Payment)).scalar_one()
        rows = conn.execute(
            sa.select(sa.func.count()).select_from(EVENTS).where(EVENTS.c.kind == "payment")
        ).scalar_one()
    engine.dispose()
    return int(payments), int(rows)


def test_a_signed_payment_posted_twice_counts_once(api: tuple[str, str]) -> None:
    url, database_url = api
    first = post(url, body())
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] == 1 and first.json()["amounts"] == {"COP": "150000.50"}
    again = post(url, body())
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert recorded(database_url) == (1, 1)


def test_unsigned_stale_forged_or_unknown_key_is_refused_and_recorded_nowhere(
    api: tuple[str, str],
) -> None:
    url, database_url = api
    assert post(url, body("U1"), header=False).status_code == 401
    assert post(url, body("U2"), stamp=int(time.time()) - 3600).status_code == 401
    assert post(url, body("U3"), secret="not-the-bank-secret-at-all").status_code == 401
    assert post(url, body("U4"), key="someone-else").status_code == 401
    signed = sign(SECRET, "bank-2026", int(time.time()), body("U5"))
    tampered = httpx.post(url, content=body("U5", "9999999.00"), headers={HEADER: signed})
    assert tampered.status_code == 401
    assert recorded(database_url) == (0, 0)


def test_bad_payments_are_named_and_nothing_is_recorded(api: tuple[str, str]) -> None:
    url, database_url = api
    response = post(url, body("B1", "150000,50"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        "payments:1: amount: '150000,50' is not an amount: write digits with '.' for the "
        "decimals and no thousands separators (150000.50)"
    ]
    unknown = json.loads(body("B2"))
    unknown["payments"][0]["account_id"] = "ZZ"
    response = post(url, json.dumps(unknown).encode())
    assert response.status_code == 422 and "no account 'ZZ'" in response.json()["errors"][0]
    assert recorded(database_url) == (0, 0)


def test_an_oversized_body_is_refused_before_it_is_read(api: tuple[str, str]) -> None:
    url, database_url = api
    huge = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
    assert post(url, huge).status_code == 413
    assert recorded(database_url) == (0, 0)
