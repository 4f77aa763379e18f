"""The portal's payments: the ``portal_payments`` rows and what a confirmed checkout records.

A payment started on the portal is a row written ``created`` before the
processor is called (record first), then ``open`` with the checkout
session's id, or ``failed`` with the processor's reason. The money counts
only when the processor's signed webhook confirms it: ``confirm_checkout``
records it through the payments path (``campaigns.payments.record``: the
accounts' balances, the ledger ``payment`` row, attribution, promise
settlement), exactly as a payment from the bank's file or API, with channel
``portal`` and the processor's payment intent id as the reference; the row
becomes ``paid``. Every event is handled once (``processor_events``, by the
processor's event id), and a row is paid once whatever events arrive.

A portal payment is on the customer's total in one currency; it is spread
over their open accounts in that currency, most days past due first (the
oldest debt is paid first), each account taking at most its balance. One
account: the reference is the payment intent id; several: ``<payment
intent>/<account id>`` per account.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from campaigns.payments.file import PaymentRecord
from campaigns.payments.record import PaymentsRejected, record_payments
from campaigns.portal.checkout import from_minor_units
from campaigns.storage.models import Account, Customer
from campaigns.storage.portal import PortalPayment, ProcessorEvent

log = logging.getLogger(__name__)
CHANNEL = "portal"
PAID_EVENT = "checkout.session.completed"


@dataclass(frozen=True)
class NewPayment:
    """What the customer chose to pay, before the processor is called."""

    link_id: int
    customer_id: str
    campaign: str
    amount: Decimal
    currency: str
    purpose: str  # promise (what is left of one) | amount (of the customer's choice)
    promise_id: int | None = None


def start(engine: Engine, payment: NewPayment, *, processor: str, now: dt.datetime) -> int:
    """The ``created`` row of ``payment``, written before the processor is called; its id."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(PortalPayment).values(
                    link_id=payment.link_id,
                    customer_id=payment.customer_id,
                    campaign=payment.campaign,
                    amount=payment.amount,
                    currency=payment.currency,
                    purpose=payment.purpose,
                    promise_id=payment.promise_id,
                    status="created",
                    processor=processor,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )


def opened(engine: Engine, row_id: int, session_id: str, *, now: dt.datetime) -> None:
    """The processor made the checkout session ``session_id`` for row ``row_id``."""
    _update(engine, row_id, status="open", session_id=session_id, updated_at=now)


def failed(engine: Engine, row_id: int, reason: str, *, now: dt.datetime) -> None:
    """The processor did not make a session: the row stays, ``failed``, with why."""
    _update(engine, row_id, status="failed", reason=reason[:1000], updated_at=now)


def _update(engine: Engine, row_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(PortalPayment).where(PortalPayment.id == row_id).values(**values))


def session_status(engine: Engine, link_id: int, session_id: str) -> str | None:
    """The status of the row whose session is ``session_id``, if it is this link's."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(PortalPayment.status).where(
                PortalPayment.session_id == session_id, PortalPayment.link_id == link_id
            )
        ).scalar()
    return None if found is None else str(found)


def _seen(conn: Connection, processor: str, event_id: str) -> bool:
    return (
        conn.execute(
            sa.select(ProcessorEvent.outcome).where(
                ProcessorEvent.processor == processor, ProcessorEvent.event_id == event_id
            )
        ).first()
        is not None
    )


def _note_event(
    engine: Engine, processor: str, event_id: str, kind: str, outcome: str, now: dt.datetime,
    *, paid: tuple[int, str] | None = None,
) -> str:  # fmt: skip
    """Keep the event as handled (and mark its row paid) in one transaction; the outcome."""
    try:
        with engine.begin() as conn:
            if paid is not None:
                row_id, intent = paid
                conn.execute(
                    sa.update(PortalPayment)
                    .where(PortalPayment.id == row_id)
                    .values(
                        status="paid",
                        payment_intent=intent,
                        event_id=event_id,
                        reason=None,
                        updated_at=now,
                    )
                )
            conn.execute(
                sa.insert(ProcessorEvent).values(
                    processor=processor,
                    event_id=event_id,
                    type=kind[:80],
                    received_at=now,
                    outcome=outcome[:80],
                )
            )
    except IntegrityError:
        # The same event, handled at this very moment by another delivery.
        return "duplicate"
    return outcome


def confirm_checkout(
    engine: Engine, *, processor: str, event_id: str, kind: str, session: dict[str, Any],
    now: dt.datetime,
) -> str:  # fmt: skip
    """Handle one verified processor event; what it did (``recorded``, ``duplicate``, …).

    Only a paid ``checkout.session.completed`` records money; any other
    event is kept as ``ignored``. A session that does not match its row
    (unknown row, other session, other amount or currency) is kept as
    ``refused: …`` and records nothing.
    """
    with engine.connect() as conn:
        if _seen(conn, processor, event_id):
            return "duplicate"
    if kind != PAID_EVENT or session.get("payment_status") != "paid":
        return _note_event(engine, processor, event_id, kind, "ignored", now)
    row, problem = _matching_row(engine, session)
    if row is None:
        log.warning("%s event %s refused: %s", processor, event_id, problem)
        return _note_event(engine, processor, event_id, kind, f"refused: {problem}", now)
    if row.status == "paid":
        return _note_event(engine, processor, event_id, kind, "duplicate: row already paid", now)
    intent = str(session.get("payment_intent") or session["id"])
    _record(engine, row, intent, now)
    return _note_event(engine, processor, event_id, kind, "recorded", now, paid=(row.id, intent))


def _matching_row(engine: Engine, session: dict[str, Any]) -> tuple[Any, str]:
    """The row the session is for, or None and why it does not match."""
    metadata = session.get("metadata") or {}
    raw = str(metadata.get("portal_payment") or session.get("client_reference_id") or "")
    if not raw.isdigit():
        return None, "no portal payment id in the session"
    with engine.connect() as conn:
        row = conn.execute(sa.select(PortalPayment).where(PortalPayment.id == int(raw))).first()
    if row is None:
        return None, f"no portal payment {raw}"
    if row.session_id != session.get("id"):
        return None, f"portal payment {raw} is not session {session.get('id')!r}"
    currency = str(session.get("currency") or "").upper()
    total = session.get("amount_total")
    if currency != row.currency or not isinstance(total, int):
        return None, f"portal payment {raw}: currency {currency!r}, not {row.currency}"
    if from_minor_units(total, currency) != Decimal(row.amount):
        return None, f"portal payment {raw}: amount {total} is not {row.amount} {row.currency}"
    return row, ""


def allocate(conn: Connection, customer_id: str, currency: str, amount: Decimal,
             ) -> list[tuple[str, Decimal]]:  # fmt: skip
    """``amount`` spread over the customer's open accounts in ``currency``, oldest debt first."""
    rows = conn.execute(
        sa.select(Account.external_id, Account.balance, Account.status)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Customer.external_id == customer_id, Account.currency == currency)
        .order_by(
            (Account.status == "open").desc(), Account.days_past_due.desc(), Account.external_id
        )
    ).all()
    if not rows:
        return []
    parts: list[tuple[str, Decimal]] = []
    left = amount
    for r in rows:
        take = min(left, Decimal(r.balance)) if r.status == "open" else Decimal(0)
        if take > 0:
            parts.append((str(r.external_id), take))
            left -= take
    if left > 0:
        # Balances fell since the customer chose (a payment from the bank
        # meanwhile): the rest lands on the first account, never lost.
        first = parts[0] if parts else (str(rows[0].external_id), Decimal(0))
        parts = [(first[0], first[1] + left), *parts[1:]]
    return parts


def _record(engine: Engine, row: Any, intent: str, now: dt.datetime) -> None:
    """Record the row's money through the payments path (once per reference)."""
    with engine.connect() as conn:
        parts = allocate(conn, row.customer_id, row.currency, Decimal(row.amount))
    if not parts:
        raise PaymentsRejected([f"portal payment {row.id}: customer has no {row.currency} account"])
    records = [
        PaymentRecord(
            line=n + 1,
            account_id=account,
            amount=amount,
            currency=row.currency,
            reference=intent if len(parts) == 1 else f"{intent}/{account}"[:100],
            paid_at=now,
            channel=CHANNEL,
            method=row.processor,
        )
        for n, (account, amount) in enumerate(parts)
    ]
    for attempt in (1, 2):
        try:
            record_payments(engine, records, source=row.processor, now=now,
                            name=f"portal payment {row.id}")  # fmt: skip
            return
        except IntegrityError:
            # Another delivery recorded the same references at the same moment:
            # the second pass finds them and counts them as duplicates.
            if attempt == 2:
                raise
