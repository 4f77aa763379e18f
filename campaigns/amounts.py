"""Amounts as people write them: a decimal comma in Colombia, a decimal point in Mexico.

An agent in Bogotá types ``150.000,50`` or ``150000,50``; one in Monterrey
``150,000.50``. Reading either with the other's convention rescales the
amount a hundred or a thousand times, silently. So an amount is read by the
customer's country's convention where that decides, by its shape where the
shape alone is unambiguous (``150000.50`` can only be a decimal point: a
thousands group has three digits), and refused, with the forms that would
be read, where it is ambiguous (``1,500`` in Bogotá: one and a half, or
fifteen hundred?).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Where the comma is the decimal mark and the point groups thousands.
DECIMAL_COMMA_COUNTRIES = frozenset(
    {"AR", "BO", "BR", "CL", "CO", "CR", "EC", "ES", "PE", "PY", "UY", "VE"}
)
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")


def decimal_comma(country: str | None) -> bool:
    """Whether people in ``country`` write decimals with a comma."""
    return (country or "").upper() in DECIMAL_COMMA_COUNTRIES


def _example(comma: bool) -> str:
    return "150000,50 or 150.000,50" if comma else "150000.50 or 150,000.50"


def parse_amount(text: str, country: str | None) -> Decimal:
    """The amount ``text`` means where ``country``'s people write it; ValueError says why not.

    At most two decimals; no sign; currency symbols and spaces are ignored.
    """
    comma = decimal_comma(country)
    cleaned = re.sub(r"[\s$]|[A-Z]{3}", "", text.strip().upper())
    if not cleaned or not re.fullmatch(r"[\d.,]+", cleaned):
        raise ValueError(f"{text!r} is not an amount: write it as {_example(comma)}")
    mark = _decimal_mark(cleaned, comma, text)
    whole, _, cents = cleaned.rpartition(mark) if mark else (cleaned, "", "")
    if mark is None:
        whole = cleaned
    digits = re.sub(r"[.,]", "", whole)
    if whole and any(sep in whole for sep in ".,") and not _GROUPED.match(whole):
        raise ValueError(
            f"{text!r}: thousands are grouped in threes; write it as {_example(comma)}"
        )
    try:
        return Decimal(f"{digits or '0'}.{cents}" if cents else digits or "0")
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount: write it as {_example(comma)}") from None


def _decimal_mark(cleaned: str, comma: bool, text: str) -> str | None:
    """Which character, if any, separates the cents."""
    last = max(cleaned.rfind("."), cleaned.rfind(","))
    if last < 0:
        return None
    mark, tail = cleaned[last], cleaned[last + 1 :]
    if "." in cleaned and "," in cleaned:
        if len(tail) > 2:
            raise ValueError(f"{text!r}: at most two decimals; write it as {_example(comma)}")
        return mark  # both present: the last one is the decimal mark
    if cleaned.count(mark) > 1:
        return None  # repeated: thousands groups only
    if len(tail) in (1, 2):
        return mark  # a thousands group has three digits: this can only be decimals
    if len(tail) == 3:
        local_thousands = "." if comma else ","
        if mark == local_thousands:
            return None
        raise ValueError(
            f"{text!r} is ambiguous (three decimals, or a thousands group?): "
            f"write it as {_example(comma)}"
        )
    raise ValueError(f"{text!r} is not an amount: write it as {_example(comma)}")
