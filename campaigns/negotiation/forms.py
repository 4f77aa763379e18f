"""An agent's settlement or plan, read from the desktop's form.

Amounts are read as the agent's locale writes money (``campaigns.amounts``:
``150.000,50`` in es_CO, ``150,000.50`` in en_US); a date comes from an
``<input type=date>`` (ISO). Every problem is named with its field, in a
translatable text, and nothing is recorded; the form keeps what was typed.
Limits are not checked here: beyond them is a supervisor's decision, not an
error (``campaigns.negotiation.rules``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from campaigns.amounts import AmountError, parse_amount, written
from campaigns.errors import InputRejected
from campaigns.negotiation.rules import KINDS, Ask, Limits
from campaigns.texts import Msg, msg

MAX_INSTALMENTS = 60
MAX_EVERY_DAYS = 92
# No agreement is dated more than a year out, whatever a supervisor might approve.
HORIZON = dt.timedelta(days=366)


class OfferRefused(InputRejected):
    """The form cannot be read; ``errors`` name each field and what is wrong."""


def parse_ask(raw: Mapping[str, str], lim: Limits, locale: str) -> Ask:
    """The ask in ``raw`` for a customer with limits ``lim``; raises naming every problem."""
    kind = raw.get("kind", "")
    if kind not in KINDS:
        raise OfferRefused([msg("Choose a settlement or an instalment plan.")])
    errors: list[Msg] = []
    if kind == "settlement":
        amount = _amount(raw.get("amount", ""), locale, msg("Settlement amount"), errors)
        if amount is not None and not Decimal(0) < amount <= lim.total:
            errors.append(msg(
                "Settlement amount: %(amount)s must be more than zero and at most the total "
                "owed, %(total)s.", amount=written(amount, locale),
                total=written(lim.total, locale)))  # fmt: skip
        pay_by = _day(raw.get("pay_by", ""), lim.today, errors)
        if errors or amount is None or pay_by is None:
            raise OfferRefused(errors)
        return Ask("settlement", amount=amount, pay_by=pay_by)
    count = _whole(raw.get("instalments", ""), 2, MAX_INSTALMENTS, msg("Instalments"), errors)
    every = _whole(raw.get("every_days", ""), 1, MAX_EVERY_DAYS, msg("Days between payments"),
                   errors)  # fmt: skip
    down = _amount(raw.get("down_payment", ""), locale, msg("Down payment"), errors)
    if down is not None and not Decimal(0) < down < lim.total:
        errors.append(msg(
            "Down payment: %(amount)s must be more than zero and less than the total owed, "
            "%(total)s.", amount=written(down, locale),
            total=written(lim.total, locale)))  # fmt: skip
    if errors or count is None or every is None or down is None:
        raise OfferRefused(errors)
    if (lim.total - down) / (count - 1) < Decimal("0.01"):
        raise OfferRefused([msg("Instalments: too many for what is left after the down payment.")])
    return Ask("plan", instalments=count, down_payment=down, every_days=every)


def _amount(text: str, locale: str, field: Msg, errors: list[Msg]) -> Decimal | None:
    try:
        return parse_amount(text, locale)
    except AmountError as exc:
        errors.append(msg("%(field)s: %(problem)s", field=field, problem=exc.text))
        return None


def _whole(text: str, low: int, high: int, field: Msg, errors: list[Msg]) -> int | None:
    value = text.strip()
    if value.isdigit() and low <= int(value) <= high:
        return int(value)
    errors.append(msg("%(field)s: write a whole number from %(low)s to %(high)s (not %(text)s).",
                      field=field, low=low, high=high, text=repr(text)))  # fmt: skip
    return None


def _day(text: str, today: dt.date, errors: list[Msg]) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        errors.append(msg("Pay by: %(text)s is not a date (YYYY-MM-DD).", text=repr(text)))
        return None
    if not today <= day <= today + HORIZON:
        errors.append(msg("Pay by: choose a date from %(first)s to %(last)s.",
                          first=today.isoformat(), last=(today + HORIZON).isoformat()))  # fmt: skip
        return None
    return day
