"""Synthetic portfolios: deterministic, realistic, and accepted by our own validator."""

from __future__ import annotations

import io
from collections import Counter

from campaigns.portfolio.generate import generate_portfolio
from campaigns.portfolio.validate import validate_text


def generated(
    customers: int, seed: int, countries: tuple[str, ...] = ("CO", "MX", "CL", "PE", "US")
) -> str:
    out = io.StringIO()
    generate_portfolio(out, customers, seed, countries)
    return out.getvalue()


def test_same_seed_same_file_other_seed_other_file() -> None:
    assert generated(300, 7) == generated(300, 7)
    assert generated(300, 7) != generated(300, 8)


def test_generated_portfolio_validates_and_looks_like_a_bank_export() -> None:
    result = validate_text(generated(2000, 11), "gen.csv")
    assert result.errors == []
    assert len(result.customers) == 2000
    countries = Counter(c.country for c in result.customers)
    assert set(countries) == {"CO", "MX", "CL", "PE", "US"}
    multi = Counter(a.customer_external_id for a in result.accounts)
    share_multi = sum(1 for n in multi.values() if n > 1) / len(multi)
    assert 0.20 <= share_multi <= 0.30
    assert {a.product for a in result.accounts} == {
        "card",
        "personal_loan",
        "auto_loan",
        "mortgage",
    }
    line_types = Counter(p.line_type for p in result.contact_points if p.kind == "phone")
    assert line_types["mobile"] > 0 and line_types["landline"] > 0
    assert {c.language for c in result.customers} == {"es", "en"}
    assert any(p.consent == "granted" for p in result.contact_points)
    assert any(p.opted_out for p in result.contact_points)


def test_country_choice_is_respected() -> None:
    result = validate_text(generated(200, 1, ("CL",)), "cl.csv")
    assert result.errors == [] and {c.country for c in result.customers} == {"CL"}
    assert {a.currency for a in result.accounts} == {"CLP"}
