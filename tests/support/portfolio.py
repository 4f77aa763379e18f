"""Small hand-written portfolios for tests: one valid row, overridable cell by cell."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy.engine import Engine

from campaigns.portfolio import spec
from campaigns.portfolio.load import ImportSummary, load_portfolio
from campaigns.portfolio.validate import validate_text


def row(**overrides: str) -> dict[str, str]:
    """A valid Colombian account row; ``overrides`` replace cells."""
    base = {c: "" for c in spec.ALL_COLUMNS}
    base.update(
        customer_id="C1",
        customer_name="María José Núñez",
        country="CO",
        subdivision="CO-DC",
        phone_1="300 123 4567",
        phone_1_consent="granted",
        email="Maria.Nunez@Example.com",
        consent_at="2025-06-01",
        consent_source="onboarding",
        account_id="A1",
        product="card",
        balance="1500000.50",
        currency="COP",
        days_past_due="45",
        minimum_due="75000",
    )
    base.update(overrides)
    return base


def us_row(**overrides: str) -> dict[str, str]:
    """A valid New York account row."""
    cells = {
        "customer_id": "U1",
        "customer_name": "Mary Smith",
        "country": "US",
        "subdivision": "US-NY",
        "phone_1": "(212) 555-0123",
        "email": "mary.smith@example.com",
        "account_id": "UA1",
        "currency": "USD",
        "balance": "2500.00",
        "minimum_due": "125.00",
        "language": "en",
    }
    cells.update(overrides)
    return row(**cells)


def to_csv(rows: list[dict[str, str]], delimiter: str = ",") -> str:
    """The rows as portfolio CSV text with the full header."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=spec.ALL_COLUMNS, delimiter=delimiter, lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def load_rows(engine: Engine, rows: list[dict[str, str]], now: dt.datetime) -> ImportSummary:
    """Validate and load ``rows``; fails loudly if they are not a valid portfolio."""
    portfolio = validate_text(to_csv(rows), "test.csv")
    assert portfolio.errors == [], portfolio.errors
    return load_portfolio(engine, portfolio, now=now)


def two_debtors() -> list[dict[str, str]]:
    """C1 owes on a card and a loan; C2 is someone else's debtor (the console's and
    the portal's test-beds)."""
    return [
        row(customer_id="C1", account_id="A1", balance="1500000.50"),
        row(
            customer_id="C1",
            account_id="A2",
            product="personal_loan",
            balance="800000",
            days_past_due="30",
            minimum_due="40000",
        ),
        row(
            customer_id="C2",
            customer_name="Jorge Pérez",
            phone_1="310 555 0101",
            email="jorge@example.com",
            account_id="B1",
            balance="300000",
        ),
    ]
