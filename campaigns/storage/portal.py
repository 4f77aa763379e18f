"""The debtor portal's tables: links behind messages, their uses, stated preferences.

A link is an opaque random reference (``secrets.token_urlsafe``, 256 bits)
that says nothing by itself: the customer and campaign it stands for stay in
``portal_links`` (migration 0015), with its expiry, revocation and the
identity check's failures. Every request on a reference, known or not, is a
``portal_uses`` row. A payment started on the portal is a ``portal_payments``
row (migration 0020) and each processor webhook event handled is a
``processor_events`` row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.storage.models import MONEY, Base, UtcDateTime


class PortalLink(Base):
    """One link a message carried: for one customer and campaign, until it expires."""

    __tablename__ = "portal_links"
    __table_args__ = (sa.Index("ix_portal_links_customer_campaign", "customer_id", "campaign"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(sa.String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64))  # the creditor's id
    campaign: Mapped[str] = mapped_column(sa.String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(80))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Wrong identity answers in a row; at the limit the link locks until locked_until.
    failures: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PortalUse(Base):
    """One request on a portal reference: what was asked and how it ended.

    ``link_id`` is None for a reference that matches no link (kept, so a
    guessing run shows); the reference itself is never stored for those.
    """

    __tablename__ = "portal_uses"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    link_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(sa.String(20))  # open, check, promise, plan…
    result: Mapped[str] = mapped_column(sa.String(20))  # ok, refused, wrong, locked, bad_link…
    detail: Mapped[str | None] = mapped_column(sa.Text)


class ContactPreference(Base):
    """The channel and local hours a customer said they prefer, on the portal.

    One row per customer, replaced by a newer choice. The planner plans
    only inside these hours and favours this channel
    (``campaigns.run.preferences``); the ledger keeps every choice as a
    ``preference`` event.
    """

    __tablename__ = "contact_preferences"

    customer_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    hour_from: Mapped[int] = mapped_column(sa.SmallInteger)  # local, inclusive
    hour_to: Mapped[int] = mapped_column(sa.SmallInteger)  # local, exclusive
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(sa.String(20))  # self_service


class PortalPayment(Base):
    """One payment a customer started on the portal, through the processor's hosted checkout.

    Written ``created`` before the processor is called (record first); the
    checkout session's id is kept once the processor answered (``open``),
    ``failed`` with the reason when it did not, ``paid`` when its signed
    webhook confirmed the money and the payment was recorded. ``purpose``
    says what the customer chose to pay: a promise (``promise_id``: a
    plan's instalment or a settlement) or an amount of their choice.
    """

    __tablename__ = "portal_payments"
    __table_args__ = (sa.Index("ix_portal_payments_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    link_id: Mapped[int] = mapped_column(sa.BigInteger)
    customer_id: Mapped[str] = mapped_column(sa.String(64))  # the creditor's id
    campaign: Mapped[str] = mapped_column(sa.String(80))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(sa.String(3))
    purpose: Mapped[str] = mapped_column(sa.String(20))  # promise | amount
    promise_id: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12))  # created | open | failed | paid
    processor: Mapped[str] = mapped_column(sa.String(20))  # stripe
    session_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    payment_intent: Mapped[str | None] = mapped_column(sa.String(255))
    event_id: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ProcessorEvent(Base):
    """One event a payment processor delivered to its signed webhook, handled once.

    The key is the processor's own event id: a redelivered or replayed event
    finds its row and changes nothing. ``outcome`` says what it did
    (``recorded``, ``ignored``, or why it was refused).
    """

    __tablename__ = "processor_events"

    processor: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(80))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(sa.String(80))
