"""The customer's 360 view as plain data for templates.

The customer, not the account, is the unit: one message speaks about every
debt the person has. ``campaigns`` maps its rows onto these dataclasses; the
templates only ever see the plain dict that :func:`template_context` builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

LANGUAGES = ("es", "en", "pt")


@dataclass(frozen=True)
class AccountView:
    """One debt of the customer."""

    account_ref: str  # already masked for display, e.g. "****1234"
    product: str
    balance: Decimal
    currency: str
    minimum_due: Decimal
    days_past_due: int


@dataclass(frozen=True)
class CustomerView:
    """Everything a message may say about one customer."""

    customer_id: str
    first_name: str
    last_name: str
    accounts: tuple[AccountView, ...]

    def totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Per currency: (total balance due, total minimum due)."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for acc in self.accounts:
            total, minimum = out.get(acc.currency, (Decimal(0), Decimal(0)))
            out[acc.currency] = (total + acc.balance, minimum + acc.minimum_due)
        return out


# Brazil writes 1.234,56; the Spanish- and English-speaking markets this
# product starts in (US, Mexico) write 1,234.56. Overridable per render.
DEFAULT_DECIMAL_COMMA = {"es": False, "en": False, "pt": True}


def format_money(amount: Decimal, currency: str, *, decimal_comma: bool) -> str:
    """``"MXN 1,234.56"`` (or ``"BRL 1.234,56"`` with a decimal comma)."""
    quantized = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{quantized:,.2f}"
    if decimal_comma:
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{currency} {text}"


def template_context(
    customer: CustomerView,
    *,
    language: str,
    payment_link: str | None,
    decimal_comma: bool | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The plain-data context a template renders from.

    Keys: ``customer`` (id, first_name, last_name, name), ``accounts`` (list of
    dicts with product, account_ref, balance, minimum_due, currency,
    days_past_due, max over them in ``max_days_past_due``), ``total_due`` and
    ``minimum_due`` (formatted, currencies joined with " + "), ``totals``
    (per currency), ``payment_link``, ``language``, plus ``extra``.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    comma = DEFAULT_DECIMAL_COMMA[language] if decimal_comma is None else decimal_comma
    accounts = _accounts(customer, comma)
    totals = _totals(customer, comma)
    context: dict[str, Any] = {
        "language": language,
        "customer": {
            "id": customer.customer_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "name": f"{customer.first_name} {customer.last_name}".strip(),
        },
        "accounts": accounts,
        "account_count": len(accounts),
        "max_days_past_due": max((a.days_past_due for a in customer.accounts), default=0),
        "totals": totals,
        "total_due": " + ".join(t["total_due"] for t in totals),
        "minimum_due": " + ".join(t["minimum_due"] for t in totals),
    }
    # Absent rather than None: a template that needs a link fails loudly
    # (StrictUndefined) instead of printing "None" to a debtor.
    if payment_link is not None:
        context["payment_link"] = payment_link
    if extra:
        clash = set(extra) & set(context)
        if clash:
            raise ValueError(f"extra context keys {sorted(clash)} would shadow built-in keys")
        context.update(extra)
    return context


def _accounts(customer: CustomerView, comma: bool) -> list[dict[str, Any]]:
    """Each debt with its amounts formatted for display and as plain decimal text."""
    return [
        {
            "account_ref": a.account_ref,
            "product": a.product,
            "currency": a.currency,
            "balance": format_money(a.balance, a.currency, decimal_comma=comma),
            "minimum_due": format_money(a.minimum_due, a.currency, decimal_comma=comma),
            "balance_amount": str(a.balance),
            "minimum_due_amount": str(a.minimum_due),
            "days_past_due": a.days_past_due,
        }
        for a in customer.accounts
    ]


def _totals(customer: CustomerView, comma: bool) -> list[dict[str, str]]:
    """Per currency, in order: the total and minimum due, formatted."""
    return [
        {
            "currency": cur,
            "total_due": format_money(total, cur, decimal_comma=comma),
            "minimum_due": format_money(minimum, cur, decimal_comma=comma),
        }
        for cur, (total, minimum) in sorted(customer.totals().items())
    ]
