"""The dial session's guard and outcome sink, over the contact ledger.

``LedgerGuard`` loads what the rules need about the debtor (jurisdiction,
time zones, debts, the number to call), builds the ``Proposal`` and calls
``guard_and_reserve`` with the planned contact's key ``plan:<id>``: the
pending attempt row exists when it returns. Anything it cannot establish
(customer unknown, no usable phone, no rule pack for the jurisdiction, the
database unreachable) refuses the call: fail closed. Its reservation names
the agent the call is offered to first: for a callback (key
``callback:<id>``) the agent who set it, otherwise the customer's owner
(``campaigns.agents.owners``); a callback's refusal or attempt is noted on it
(``campaigns.dialing.callbacks``). ``LedgerSink`` records outcomes with
``record_outcome``, once per attempt and outcome; a conversation makes its
agent the customer's owner if they had none, and settles a callback's status.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.agents.owners import owner_of, record_conversation
from campaigns.campaign import Campaign
from campaigns.dialing import callbacks
from campaigns.ledger.chain import EVENTS
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.ledger.outcomes import UnknownAttempt, record_outcome
from campaigns.payments.promises import promise_taker
from campaigns.reach import pick_point
from campaigns.storage.models import Account, ContactPoint, Customer
from compliance import Pack, Proposal, load_packs
from dialer.session import CallResult, Lead, Reservation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceTarget:
    """What the guard and the PBX need about one debtor."""

    customer_id: str
    country: str
    subdivision: str | None
    timezones: tuple[str, ...]
    debt_ids: tuple[str, ...]
    number: str | None
    line_type: str
    unusable: str | None


def load_voice_target(engine: Engine, customer_id: str) -> VoiceTarget | None:
    """The debtor's first usable phone (by position), debts and zones; None when unknown.

    Opted-out, wrong and retired numbers are skipped; consent itself is the guard's
    business (it reads the consent state with the history).
    """
    with engine.connect() as conn:
        c = conn.execute(
            sa.select(
                Customer.id, Customer.country, Customer.subdivision, Customer.timezones
            ).where(Customer.external_id == customer_id)
        ).first()
        if c is None:
            return None
        debts = conn.execute(
            sa.select(Account.external_id)
            .where(Account.customer_id == c.id, Account.status == "open")
            .order_by(Account.external_id)
        ).scalars()
        phones = conn.execute(
            sa.select(
                ContactPoint.value,
                ContactPoint.line_type,
                ContactPoint.opted_out_at,
                ContactPoint.wrong_number_at,
                ContactPoint.retired_at,
                ContactPoint.consent,
                ContactPoint.position,
            ).where(ContactPoint.customer_id == c.id, ContactPoint.kind == "phone")
        ).all()
        debt_ids = tuple(str(d) for d in debts)
    chosen, reasons = pick_point("voice", phones)
    number = chosen.value if chosen is not None else None
    line_type = (chosen.line_type if chosen is not None else None) or "unknown"
    return VoiceTarget(
        customer_id=customer_id,
        country=c.country,
        subdivision=c.subdivision,
        timezones=tuple(z for z in (c.timezones or "").split(";") if z),
        debt_ids=debt_ids,
        number=number,
        line_type=line_type,
        unusable=None if number else ("; ".join(reasons) or "no phone number"),
    )


@dataclass
class LedgerGuard:
    """The session's ``Guard``: one ``guard_and_reserve`` per call, at dial time."""

    engine: Engine
    campaign: Campaign
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _packs: dict[tuple[str, ...], tuple[Pack, ...]] = field(default_factory=dict)

    def reserve(self, lead: Lead, at: dt.datetime) -> Reservation:
        """Check and reserve ``lead`` for a call at ``at``; refuses on any doubt."""
        try:
            res = self._reserve(lead, at)
        except Exception as exc:  # whatever stops a decision stops the call: fail closed
            first = (str(exc).splitlines() or [""])[0]
            reason = f"fail closed: {type(exc).__name__}: {first}"
            log.error("guard for %s: %s", lead.key, reason)
            res = Reservation(lead, False, reason=reason)
        self._note_callback(res)
        return res

    def _note_callback(self, res: Reservation) -> None:
        """A callback's lead: its refusal (with the rules) or its attempt, on the callback."""
        callback_id = callbacks.callback_id_of(res.lead.key)
        if callback_id is None:
            return
        try:
            if not res.allowed:
                callbacks.note_refused(self.engine, callback_id, res.reason, self.now())
            elif res.attempt_id is not None and not res.settled:
                callbacks.note_reserved(self.engine, callback_id, res.attempt_id, self.now())
        except Exception:  # the call's own record is the ledger; this is the supervisor's view
            log.exception("callback %s: status not noted", callback_id)

    def _first_agent(self, lead: Lead) -> str | None:
        """Who is offered the call first: the callback's agent; for the follow-up of a
        broken promise, the agent who took it; else the customer's owner."""
        callback_id = callbacks.callback_id_of(lead.key)
        if callback_id is not None:
            return callbacks.agent_of(self.engine, callback_id)
        days = self.campaign.collections.follow_up_days
        if days:
            since = self.now() - dt.timedelta(days=days)
            taker = promise_taker(self.engine, lead.customer_id, since)
            if taker is not None:
                return taker
        return owner_of(self.engine, lead.customer_id)

    def _reserve(self, lead: Lead, at: dt.datetime) -> Reservation:
        target = load_voice_target(self.engine, lead.customer_id)
        if target is None:
            return Reservation(lead, False, reason=f"customer {lead.customer_id} not found")
        names = self.campaign.packs_for(target.country, target.subdivision)
        if not names:
            return Reservation(
                lead, False, reason=f"no rule pack for {target.country}: fail closed"
            )
        if target.number is None:
            return Reservation(lead, False, reason=f"no usable phone: {target.unusable}")
        if names not in self._packs:
            self._packs[names] = load_packs(names)
        proposal = Proposal(
            at=at,
            customer_id=target.customer_id,
            debt_ids=target.debt_ids,
            channel="voice",
            timezones=target.timezones,
            contact_point=target.number,
            line_type=target.line_type,
            campaign=self.campaign.name,
            autodialed=self.campaign.dialer.mode != "preview",
        )
        request = ContactRequest(lead.key, proposal, self._packs[names], {"dialer": "session"})
        (result,) = guard_and_reserve(self.engine, [request], now=self.now())
        if not result.allowed:
            failed = [r for r in result.decision.results if not r.ok]
            reason = "; ".join(f"{r.rule}: {r.detail}" for r in failed) or "refused"
            return Reservation(lead, False, reason=reason)
        assert result.attempt_id is not None
        agent = self._first_agent(lead)
        if not result.replayed:
            return Reservation(lead, True, result.attempt_id, target.number, agent=agent)
        number, settled = self._attempt_state(result.attempt_id)
        return Reservation(
            lead, True, result.attempt_id, number, replayed=True, settled=settled, agent=agent
        )

    def _attempt_state(self, attempt_id: int) -> tuple[str | None, bool]:
        """The number an earlier attempt was reserved for, and whether it has an outcome."""
        with self.engine.connect() as conn:
            point = conn.execute(
                sa.select(EVENTS.c.contact_point).where(EVENTS.c.id == attempt_id)
            ).scalar()
            settled = conn.execute(
                sa.select(sa.func.count()).where(EVENTS.c.resolves_id == attempt_id)
            ).scalar_one()
        return point, bool(settled)


@dataclass
class LedgerSink:
    """The session's ``OutcomeSink``: ``record_outcome``, idempotent per attempt and outcome."""

    engine: Engine
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    def record(self, result: CallResult) -> None:
        """Append the outcome row (a second delivery of the same outcome writes nothing)."""
        try:
            record_outcome(
                self.engine,
                result.attempt_id,
                result.outcome,
                at=result.at,
                now=self.now(),
                agent=result.agent,
                duration_s=result.duration_s,
                extra=json.loads(json.dumps(dict(result.extra), default=str)),
            )
        except UnknownAttempt:
            log.error(
                "outcome %s for unknown attempt %s dropped", result.outcome, result.attempt_id
            )
            return
        self._after(result)

    def _after(self, result: CallResult) -> None:
        """The owner a first conversation makes, and the callback the outcome settles.

        Both are derived records (the ledger row above is the call's record),
        so a failure is logged and never takes the outcome back.
        """
        try:
            if result.outcome == "conversation" and result.agent:
                record_conversation(self.engine, result.attempt_id, result.agent, result.at)
            callbacks.note_outcome(self.engine, result.attempt_id, result.outcome, self.now())
        except Exception:
            log.exception("attempt %s: owner or callback not updated", result.attempt_id)
