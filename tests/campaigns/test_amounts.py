"""Amounts read as the customer's country writes them, never silently rescaled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.amounts import parse_amount


@pytest.mark.parametrize(
    ("text", "country", "amount"),
    [
        ("150000,50", "CO", "150000.50"),
        ("150.000,50", "CO", "150000.50"),
        ("1.500.000", "CO", "1500000"),
        ("1.500", "CO", "1500"),
        ("150000.50", "CO", "150000.50"),  # a point before two digits can only be decimals
        ("COP 1.234.567,89", "CL", "1234567.89"),
        ("1,500", "MX", "1500"),
        ("1,500.25", "US", "1500.25"),
        ("$ 2,500.00", "US", "2500.00"),
        ("150000,50", "MX", "150000.50"),
        ("1,500,000", "EC", "1500000"),
        ("40000", "PE", "40000"),
    ],
)
def test_amounts_as_written(text: str, country: str, amount: str) -> None:
    assert parse_amount(text, country) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "country", "why"),
    [
        ("1,500", "CO", "ambiguous"),
        ("1.500", "US", "ambiguous"),
        ("12,3456", "CO", "not an amount: write it as 150000,50 or 150.000,50"),
        ("1.50.000", "CO", "grouped in threes"),
        ("1.500,505", "CO", "at most two decimals"),
        ("-5", "MX", "not an amount: write it as 150000.50 or 150,000.50"),
        ("abc", "CO", "not an amount"),
        ("", "CO", "not an amount"),
    ],
)
def test_ambiguous_or_malformed_amounts_are_refused(text: str, country: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_amount(text, country)
