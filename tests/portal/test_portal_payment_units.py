"""The pure parts of portal payments: Stripe's minor units, the Stripe settings, the
stand-in's reading of Stripe's bracket notation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.portal.checkout import chargeable, from_minor_units, minor_units
from campaigns.settings import ConfigError, Settings
from sandbox.providers.stripe_wire import decode_form


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("460000.10", "COP", 46000010), ("12.5", "USD", 1250), ("15000", "CLP", 15000),
     ("3.25", "KWD", 3250), ("700", "ISK", 70000)],
)  # fmt: skip
def test_amounts_are_sent_in_stripes_minor_unit(amount: str, currency: str, minor: int) -> None:
    assert minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


def test_what_cannot_be_charged_is_rounded_down_never_up() -> None:
    assert chargeable(Decimal("15000.75"), "CLP") == Decimal("15000")
    assert chargeable(Decimal("700.50"), "ISK") == Decimal("700")
    assert chargeable(Decimal("460000.10"), "COP") == Decimal("460000.10")
    with pytest.raises(ValueError, match="more decimals"):
        minor_units(Decimal("1.5"), "CLP")


def test_stripe_settings_default_their_return_urls_to_the_links() -> None:
    assert Settings.load({}).stripe() is None  # no key: no Pay
    env = {"CADENCIA_STRIPE_API_KEY": "sk_test_1",
           "PAYMENT_LINK_URL_PATTERN": "https://pay.bank.example/p/{token}",
           "PAYMENT_LINK_SECRET": "test-link-secret-0123456789"}  # fmt: skip
    stripe = Settings.load(env).stripe()
    assert stripe is not None and stripe.api_base == "https://api.stripe.com"
    assert stripe.success_url == (
        "https://pay.bank.example/p/{reference}?payment={CHECKOUT_SESSION_ID}"
    )
    assert stripe.cancel_url == "https://pay.bank.example/p/{reference}?payment=cancelled"
    assert "sk_test_1" not in repr(stripe)
    with pytest.raises(ConfigError, match="CADENCIA_STRIPE_SUCCESS_URL"):
        Settings.load({"CADENCIA_STRIPE_API_KEY": "sk_test_1"}).stripe()


def test_the_stand_in_reads_stripes_bracket_notation() -> None:
    body = (
        b"mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=cop"
        b"&line_items[0][price_data][unit_amount]=46000010&metadata[portal_payment]=7"
    )
    assert decode_form(body) == {
        "mode": "payment",
        "line_items": [{"quantity": "1", "price_data": {"currency": "cop",
                                                        "unit_amount": "46000010"}}],
        "metadata": {"portal_payment": "7"},
    }  # fmt: skip
