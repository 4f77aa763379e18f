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
from babel.numbers import NumberFormatError, format_decimal, parse_decimal

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


def parse_amount(text: str, locale: str) -> Decimal:
    """The amount ``text`` means in ``locale``; ValueError says why not and how to write it.

    At most two decimals, not negative; spaces, ``$`` and a currency code are ignored.
    """
    example = f"{written(EXAMPLE, locale)} or {format_decimal(EXAMPLE, locale=locale)}"
    cleaned = re.sub(r"\s|\$|\b[A-Za-z]{3}\b", "", text)
    if not cleaned or not re.fullmatch(r"[\d.,]+", cleaned):
        raise ValueError(f"{text!r} is not an amount: write it as {example}")
    try:
        value = parse_decimal(cleaned, locale=locale, strict=True)
    except NumberFormatError:
        raise ValueError(
            f"{text!r} is not an amount as it is written here ({locale}): write it as {example}"
        ) from None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(f"{text!r}: at most two decimals; write it as {example}")
    return value
