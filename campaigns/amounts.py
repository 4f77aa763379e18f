"""Amounts as people write them: a decimal comma in Bogotá, a decimal point in Monterrey.

An agent in Bogotá types ``150.000,50`` or ``150000,50``; one in Monterrey
``150,000.50``. Reading either with the other's convention rescales the
amount a hundred or a thousand times, silently. ``parse_amount`` reads an
amount by its locale's rules (CLDR's, through Babel, in strict mode: a
grouping that does not fit the locale is refused rather than guessed), at
most two decimals, and says in the error how the locale writes it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_precision,
    parse_decimal,
)

from campaigns.texts import Msg, msg

EXAMPLE = Decimal("150000.50")
DEFAULT_LOCALE = "es_CO"


def locale_of(language: str | None, country: str | None) -> str:
    """The locale a customer's money is written in: ``es`` + ``CO`` → ``es_CO``.

    An unknown combination falls back to the language, then to es_CO.
    """
    for candidate in (f"{language}_{country}", language or "", DEFAULT_LOCALE):
        try:
            return str(Locale.parse(candidate))
        except (UnknownLocaleError, ValueError):
            continue
    return DEFAULT_LOCALE


def written(amount: Decimal, locale: str) -> str:
    """``amount`` with two decimals as ``locale`` writes it (``150.000,50`` in es_CO)."""
    return format_decimal(amount, format="#,##0.00", locale=locale)


def written_money(amount: Decimal, currency: str, locale: str, *, always_cents: bool) -> str:
    """``amount`` in ``currency`` as ``locale`` writes it, with the currency's sign.

    CLDR writes some currencies without decimals (the Colombian and Chilean
    peso): ``always_cents`` shows two anyway (what a debtor owes, to the
    centavo, on the portal); otherwise the currency's own decimals, unless the
    amount has cents (an agent must still see the 50 centavos of a balance).
    """
    digits = get_currency_precision(currency)
    if always_cents or amount != amount.quantize(Decimal(1).scaleb(-digits)):
        return format_currency(amount, currency, locale=locale, currency_digits=False)
    return format_currency(amount, currency, locale=locale)


class AmountError(ValueError):
    """An amount that cannot be read; ``text`` says why and how to write it (translatable)."""

    def __init__(self, text: Msg) -> None:
        super().__init__(str(text))
        self.text = text


def parse_amount(text: str, locale: str) -> Decimal:
    """The amount ``text`` means in ``locale``; AmountError says why not and how to write it.

    At most two decimals, not negative; spaces, ``$`` and a currency code are ignored.
    """
    example = msg(
        "%(grouped)s or %(plain)s",
        grouped=written(EXAMPLE, locale),
        plain=format_decimal(EXAMPLE, locale=locale),
    )
    cleaned = re.sub(r"\s|\$|\b[A-Za-z]{3}\b", "", text)
    if not cleaned or not re.fullmatch(r"[\d.,]+", cleaned):
        raise AmountError(
            msg(
                "%(text)s is not an amount: write it as %(example)s",
                text=repr(text),
                example=example,
            )
        )
    try:
        value = parse_decimal(cleaned, locale=locale, strict=True)
    except NumberFormatError:
        raise AmountError(
            msg(
                "%(text)s is not an amount as it is written here (%(locale)s): "
                "write it as %(example)s",
                text=repr(text),
                locale=locale,
                example=example,
            )
        ) from None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise AmountError(
            msg(
                "%(text)s: at most two decimals; write it as %(example)s",
                text=repr(text),
                example=example,
            )
        )
    return value
