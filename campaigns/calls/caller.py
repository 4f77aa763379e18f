"""Who is calling: the caller ID matched to the portfolio's phone numbers."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.storage.models import Account, ContactPoint, Customer


@dataclass(frozen=True)
class Caller:
    """The calling number (E.164 when it parses) and the customer it belongs to.

    ``customer_id`` is None for a number no customer has, and for one that
    several customers share (a family landline): the agent is then shown the
    number and a search, never someone else's record.
    """

    number: str
    customer_id: str | None
    debt_ids: tuple[str, ...] = ()
    matches: int = 0


def e164(raw: str, region: str) -> str | None:
    """``raw`` as E.164, read in ``region`` when it has no country code; None if no number."""
    digits = raw.strip()
    if not digits or digits.lower() in ("anonymous", "unknown", "restricted"):
        return None
    try:
        parsed = phonenumbers.parse(digits, region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def identify(engine: Engine, raw: str, region: str) -> Caller:
    """The customer whose phone number called (portfolio numbers are stored in E.164)."""
    number = e164(raw, region)
    if number is None:
        return Caller(raw.strip() or "anonymous", None)
    with engine.connect() as conn:
        owners = sorted(
            set(
                conn.execute(
                    sa.select(Customer.external_id)
                    .join(ContactPoint, ContactPoint.customer_id == Customer.id)
                    .where(ContactPoint.kind == "phone", ContactPoint.value == number)
                ).scalars()
            )
        )
        if len(owners) != 1:
            return Caller(number, None, matches=len(owners))
        debts = conn.execute(
            sa.select(Account.external_id)
            .join(Customer, Customer.id == Account.customer_id)
            .where(Customer.external_id == owners[0], Account.status == "open")
            .order_by(Account.external_id)
        ).scalars()
        return Caller(number, str(owners[0]), tuple(str(d) for d in debts), 1)
