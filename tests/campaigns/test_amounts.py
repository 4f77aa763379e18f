"""Amounts read as the customer's locale writes them, never silently rescaled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.amounts import locale_of, parse_amount, written


@pytest.mark.parametrize(
    ("text", "locale", "amount"),
    [
        ("150000,50", "es_CO", "150000.50"),
        ("150.000,50", "es_CO", "150000.50"),
        ("1.500.000", "es_CO", "1500000"),
        ("1.500", "es_CO", "1500"),
        ("COP 1.234.567,89", "es_CL", "1234567.89"),
        ("$ 150.000", "es_EC", "150000"),
        ("1,500", "es_MX", "1500"),
        ("1,500.25", "en_US", "1500.25"),
        ("$ 2,500.00", "en_US", "2500.00"),
        ("40000", "es_CO", "40000"),
    ],
)
def test_amounts_as_written(text: str, locale: str, amount: str) -> None:
    assert parse_amount(text, locale) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "locale", "why"),
    [
        ("150,000.50", "es_CO", "not an amount as it is written here"),  # Mexican, in Bogotá
        ("150000.50", "es_CO", "write it as 150.000,50 or 150.000,5"),
        ("150000,50", "es_MX", "write it as 150,000.50 or 150,000.5"),
        ("1,500", "es_CO", "at most two decimals"),  # 1,5 or 1500? Refused, not guessed.
        ("1.50.000", "es_CO", "not an amount as it is written here"),
        ("-5", "es_MX", "not an amount"),
        ("abc", "es_CO", "not an amount"),
        ("", "es_CO", "not an amount"),
    ],
)
def test_ambiguous_or_malformed_amounts_are_refused(text: str, locale: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace(".", r"\.")):
        parse_amount(text, locale)


def test_locales_and_how_they_write_money() -> None:
    assert locale_of("es", "CO") == "es_CO" and locale_of("en", "US") == "en_US"
    assert locale_of("xx", "ZZ") == "es_CO"
    assert written(Decimal("150000.5"), "es_CO") == "150.000,50"
    assert written(Decimal("150000.5"), "en_US") == "150,000.50"
