"""The portfolio's tables: customers, their accounts, contact points and promises.

The customer is the unit (see docs/architecture.md): every account, contact point
and promise hangs off one customer row, keyed internally by an integer and
externally by the creditor's own id.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

MONEY = sa.Numeric(14, 2)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An instant, always aware and in UTC when read back, on SQLite as on PostgreSQL.

    SQLite has no time-zone type; without this it silently drops the offset and
    hands back naive datetimes, and the ledger's local-hour checks would drift.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: instants must carry an offset")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is what Alembic migrates."""


class Customer(Base):
    """One debtor (a person or a company), however many accounts they hold."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # The name lower-cased without accents (``campaigns.portfolio.search.fold``),
    # what searches compare on: ``nunez`` finds Núñez on PostgreSQL and SQLite
    # alike (migration 0017; the portfolio loader fills it).
    name_folded: Mapped[str] = mapped_column(sa.String(200), server_default="")
    country: Mapped[str] = mapped_column(sa.String(2))
    subdivision: Mapped[str | None] = mapped_column(sa.String(6))
    # Candidate IANA zones separated by ";". Several when the file could not
    # pin one down: compliance then requires every one of them to allow a contact.
    timezones: Mapped[str] = mapped_column(sa.String(200))
    language: Mapped[str] = mapped_column(sa.String(5))
    behavior_score: Mapped[int | None] = mapped_column(sa.Integer)
    segment: Mapped[str | None] = mapped_column(sa.String(40))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    accounts: Mapped[list[Account]] = relationship(back_populates="customer")
    contact_points: Mapped[list[ContactPoint]] = relationship(back_populates="customer")
    promises: Mapped[list[Promise]] = relationship(back_populates="customer")


class Account(Base):
    """One debt: a card, a loan, a mortgage."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    product: Mapped[str] = mapped_column(sa.String(20))
    balance: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(sa.String(3))
    days_past_due: Mapped[int] = mapped_column(sa.Integer)
    minimum_due: Mapped[Decimal] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(sa.String(10))  # open | closed
    opened_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    customer: Mapped[Customer] = relationship(back_populates="accounts")


class ContactPoint(Base):
    """A phone number (E.164) or an email address, with its consent state."""

    __tablename__ = "contact_points"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "kind", "value"),
        sa.Index("ix_contact_points_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique key above leads with it (migration 0022).
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(sa.String(5))  # phone | email
    value: Mapped[str] = mapped_column(sa.String(254))
    line_type: Mapped[str | None] = mapped_column(sa.String(10))  # mobile|landline|unknown
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    consent: Mapped[str] = mapped_column(sa.String(10))  # granted | denied | unknown
    consent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    consent_source: Mapped[str | None] = mapped_column(sa.String(80))
    # Sticky: once a debtor opts out (STOP, a cease letter, the bank's file) a
    # later portfolio import never clears it; only a recorded new consent can.
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    wrong_number_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # When a full portfolio file (``--full-refresh``) stopped listing the point:
    # never contacted again, but kept (not deleted) for the ledger's and the
    # audit's sake. A later file that lists it again clears it.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    customer: Mapped[Customer] = relationship(back_populates="contact_points")


class Promise(Base):
    """A promise to pay, for one account or the customer's total."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(sa.String(3))
    due_on: Mapped[dt.date] = mapped_column(sa.Date)
    # pending | kept | partly_kept | broken | cancelled (campaigns.payments.promises)
    status: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(sa.String(40))  # agent id, "import", "webhook"…
    campaign: Mapped[str | None] = mapped_column(sa.String(80))
    # Days after the due date a payment still counts toward the promise.
    grace_days: Mapped[int] = mapped_column(sa.SmallInteger, default=3)
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    settled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The ledger row that recorded the promise, which its settlement resolves.
    ledger_event_id: Mapped[int | None] = mapped_column(sa.BigInteger)

    customer: Mapped[Customer] = relationship(back_populates="promises")


class Payment(Base):
    """Money received on one account, from the bank's file or its signed API.

    ``reference`` is the payer's own id for the payment: the same reference
    arriving twice (a file imported again, a retried webhook) is one payment.
    ``allocated`` is how much of it already settled promises, so one payment
    never keeps two promises beyond its amount.
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(sa.String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(sa.String(3))
    paid_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str | None] = mapped_column(sa.String(20))
    method: Mapped[str | None] = mapped_column(sa.String(40))
    source: Mapped[str] = mapped_column(sa.String(20))  # file | api
    allocated: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    ledger_event_id: Mapped[int | None] = mapped_column(sa.BigInteger)


class ContactEventRow(Base):
    """One row of the append-only, hash-chained contact ledger.

    Rows are never updated or deleted. An attempt is written ``pending`` before
    the PBX or provider is called; each outcome that follows is a new row whose
    ``resolves_id`` points at that attempt (kind ``attempt``, status ``final``).
    ``hash`` = SHA-256 over ``prev_hash`` and the row's canonical JSON, so any
    edit or deletion breaks the chain (``cadencia audit verify``).
    """

    __tablename__ = "contact_events"
    __table_args__ = (sa.Index("ix_contact_events_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    debt_ids: Mapped[str] = mapped_column(sa.Text)  # JSON list
    channel: Mapped[str] = mapped_column(sa.String(16))  # 16 since 0015: self_service
    direction: Mapped[str] = mapped_column(sa.String(10))
    kind: Mapped[str] = mapped_column(sa.String(10))
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(10))  # pending | final
    resolves_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    contact_point: Mapped[str | None] = mapped_column(sa.String(254))
    line_type: Mapped[str | None] = mapped_column(sa.String(10))
    campaign: Mapped[str | None] = mapped_column(sa.String(80))
    agent: Mapped[str | None] = mapped_column(sa.String(80))
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    extra: Mapped[str] = mapped_column(sa.Text)  # JSON object: granted, until, provider ids…
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class GuardDecisionRow(Base):
    """Why the contact-time guard refused (or allowed) a proposed contact."""

    __tablename__ = "guard_decisions"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    request_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    allowed: Mapped[bool] = mapped_column(sa.Boolean)
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    rules: Mapped[str] = mapped_column(sa.Text)  # JSON: the Decision's rules


class LedgerHead(Base):
    """The newest chain link, updated with every append, so a truncated tail shows."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    last_event_id: Mapped[int] = mapped_column(sa.BigInteger)
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    events: Mapped[int] = mapped_column(sa.BigInteger)


class LedgerCheck(Base):
    """One verification of the ledger's chain (``campaigns.ledger.verification``).

    Requested (by an officer, the schedule or the CLI), then started and
    finished by whoever runs it: ``ok`` is None until it finishes.
    """

    __tablename__ = "ledger_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(sa.String(20))  # console | schedule | cli
    requested_by: Mapped[str | None] = mapped_column(sa.String(80))
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ok: Mapped[bool | None] = mapped_column(sa.Boolean)
    events: Mapped[int | None] = mapped_column(sa.BigInteger)  # rows checked
    event_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # the first bad row
    problem: Mapped[str | None] = mapped_column(sa.Text)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)


class Run(Base):
    """One campaign's day: a state machine persisted so a crash can resume it.

    allowances → planned → (approved) → dispatched → executing → closed. The
    campaign file's text is stored with the run, so a resumed or audited run
    uses exactly the configuration it started with.
    """

    __tablename__ = "runs"
    __table_args__ = (sa.UniqueConstraint("campaign", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(sa.String(80))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    campaign_toml: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(20))
    needs_approval: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    summary: Mapped[str] = mapped_column(sa.Text)  # JSON: plan figures, prices, timings
    error: Mapped[str | None] = mapped_column(sa.Text)


class PlannedContact(Base):
    """One attempt the plan calls for: customer, channel, hour slot, priority."""

    __tablename__ = "planned_contacts"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "customer_id", "channel", "slot"),
        sa.Index("ix_planned_contacts_run_slot", "run_id", "slot", "channel"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id"))
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(10))
    slot: Mapped[int] = mapped_column(sa.SmallInteger)
    slot_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    rank: Mapped[int] = mapped_column(sa.SmallInteger)
    value: Mapped[float] = mapped_column(sa.Float)
    arm: Mapped[str] = mapped_column(sa.String(12))  # optimised | challenger
    status: Mapped[str] = mapped_column(sa.String(12))  # planned | dispatched | done | dropped
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    reason: Mapped[str | None] = mapped_column(sa.Text)


class RunCustomer(Base):
    """Every customer the run considered, with their arm and why they got no contact."""

    __tablename__ = "run_customers"
    __table_args__ = (sa.UniqueConstraint("run_id", "customer_id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id"), index=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    arm: Mapped[str] = mapped_column(sa.String(12))  # optimised | challenger | holdout
    segment: Mapped[str] = mapped_column(sa.String(40))
    expected_amount: Mapped[float] = mapped_column(sa.Float)
    planned_attempts: Mapped[int] = mapped_column(sa.SmallInteger)
    left_out_reason: Mapped[str | None] = mapped_column(sa.Text)


class PacerState(Base):
    """What a campaign's pacer learned, saved when a dial session ends.

    The next session of the campaign (the next slot, or tomorrow's first)
    restores it instead of re-learning live rate and handle times from the
    priors in a progressive warm-up.
    """

    __tablename__ = "pacer_states"

    campaign: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    state: Mapped[str] = mapped_column(sa.Text)  # JSON: dialer.pacing.Pacer.export_state()
    saved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(sa.Integer)  # the run whose session saved it


class RunAction(Base):
    """A person's action on a run from the console (approve, launch, resume, cancel).

    Refused actions are kept too, with the reason, so who decided what about a
    day's plan, and when, can be answered later (migration 0010).
    """

    __tablename__ = "run_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(12))
    # The account at the time; the name is copied so a renamed or removed
    # account still reads in the record.
    user_id: Mapped[int | None] = mapped_column(sa.Integer)
    username: Mapped[str] = mapped_column(sa.String(80))
    role: Mapped[str] = mapped_column(sa.String(12))
    state_before: Mapped[str] = mapped_column(sa.String(20))
    state_after: Mapped[str] = mapped_column(sa.String(20))
    error: Mapped[str | None] = mapped_column(sa.Text)  # why the core refused; None when done
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CustomerOwner(Base):
    """The agent who deals with a customer: every debt, every call (migration 0011).

    Set at the customer's first conversation (the agent of the first
    ``conversation`` outcome in the ledger), or assigned explicitly (a
    campaign rule, a supervisor); an assignment replaces the owner, a first
    conversation never does. Calls for the customer are offered to the owner
    first (docs/routing.md).
    """

    __tablename__ = "customer_owners"

    customer_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(sa.String(80), index=True)  # the queue member's name
    source: Mapped[str] = mapped_column(sa.String(16))  # conversation | assigned
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # the first conversation's
    since: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CallbackDial(Base):
    """What became of a desktop callback (``web_callbacks``) when its time came.

    ``status``: ``queued`` (in its slot's hopper, dialed at its time),
    ``dialing`` (the guard allowed it: ``attempt_id`` is its ledger attempt),
    ``done`` (a conversation), ``refused`` (the guard: ``reason`` names the
    rules), ``missed`` (no answer, busy..., or no dial session dialed it in
    time: ``reason`` says which). One row per callback (migration 0011).
    """

    __tablename__ = "callback_dials"
    __table_args__ = (sa.Index("ix_callback_dials_run_slot", "run_id", "slot"),)

    callback_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    run_id: Mapped[int | None] = mapped_column(sa.Integer)
    slot: Mapped[int | None] = mapped_column(sa.SmallInteger)
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OfferRequest(Base):
    """An agent's settlement or plan beyond the campaign's limits, waiting for a supervisor.

    ``ask`` is what the agent agreed with the customer (JSON: the amounts, the
    dates, the schedule); ``exceeded`` names each limit it goes beyond, with
    what was asked and what the terms allow. A supervisor approves it (it
    becomes tracked promises: ``promise_ids``) or rejects it with a reason;
    ``status`` moves from ``pending`` once, guarded (migration 0019,
    ``campaigns.negotiation``).
    """

    __tablename__ = "offer_requests"
    __table_args__ = (sa.Index("ix_offer_requests_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12))  # settlement | plan
    customer_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    campaign: Mapped[str] = mapped_column(sa.String(80))
    agent: Mapped[str] = mapped_column(sa.String(80), index=True)  # the queue member's name
    requested_by: Mapped[str] = mapped_column(sa.String(80))  # the console account
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # the call, if any
    direction: Mapped[str] = mapped_column(sa.String(8))  # of the call: outbound | inbound
    currency: Mapped[str] = mapped_column(sa.String(3))
    total: Mapped[Decimal] = mapped_column(MONEY)  # owed across the debts, when asked
    debt_ids: Mapped[str] = mapped_column(sa.Text)  # JSON list
    ask: Mapped[str] = mapped_column(sa.Text)  # JSON
    exceeded: Mapped[str] = mapped_column(sa.Text)  # JSON list of {limit, unit, asked, allowed}
    status: Mapped[str] = mapped_column(sa.String(10))  # pending | approved | rejected
    decided_by: Mapped[str | None] = mapped_column(sa.String(80))
    decided_role: Mapped[str | None] = mapped_column(sa.String(12))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    promise_ids: Mapped[str | None] = mapped_column(sa.Text)  # JSON list, once approved


class Recording(Base):
    """A call's recording, kept in the recording store (``campaigns.recordings``, migration 0021).

    Written by the call desk once the call has ended and Asterisk closed the
    file: where it is kept (``storage_key``, named by the attempt id), its
    SHA-256 and size (also in the ledger's ``recording`` row,
    ``ledger_event_id``), and until when the campaign keeps it
    (``retain_until``). The retention job deletes the file, never the row:
    ``deleted_at`` and ``deletion_reason`` say when and why.
    """

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    campaign: Mapped[str | None] = mapped_column(sa.String(80))
    storage_key: Mapped[str] = mapped_column(sa.String(200))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    retain_until: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ledger_event_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deletion_reason: Mapped[str | None] = mapped_column(sa.Text)


class RecordingEvent(Base):
    """Who did what to a call's recording, and when (migration 0021).

    ``action``: ``paused`` / ``resumed`` during the call (PCI: ``actor`` is the
    agent, or ``timer`` for the automatic resume), ``played`` (a compliance
    officer's playback, ``actor`` their account), ``refused`` (a playback
    whose file was missing or altered: ``detail`` says which), ``purged`` (the
    retention job deleted the file). Pauses come before the recording row
    exists, so rows are keyed by the attempt; ``recording_id`` is set once known.
    """

    __tablename__ = "recording_events"
    __table_args__ = (sa.Index("ix_recording_events_attempt", "attempt_id", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempt_id: Mapped[int] = mapped_column(sa.BigInteger)
    recording_id: Mapped[int | None] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(10))
    actor: Mapped[str] = mapped_column(sa.String(80))
    detail: Mapped[str | None] = mapped_column(sa.Text)
