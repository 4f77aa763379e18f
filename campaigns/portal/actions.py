"""What a customer does on the portal, each action a ledger event (channel ``self_service``).

* A **promise** (date and amount), each instalment of an accepted
  **plan** and an accepted **settlement** (the discounted total by the end
  of the promise window) are tracked exactly like an agent's: a ``promise`` ledger event
  (which holds further contact, house rule H-1) and a ``promises`` row
  through ``campaigns.payments.taken.insert_promise``, settled kept, partly
  kept or broken by the payments machinery.
* A **preferred channel and hours**: ``contact_preferences`` and a
  ``preference`` ledger event.
* An **opt-out** of a channel goes through the webhooks' own path
  (``campaigns.webhooks.record.record_opt_out``): an ``opt_out`` event on the
  channel it concerns (that is what the guard reads, at once) and the contact
  point's sticky ``opted_out_at``.
* A **callback** request: a ``web_callbacks`` row like the desktop's, checked
  against the campaign's rules first, and a ``callback`` ledger event.

Refusals are :class:`PortalRefused`, whose problems are English gettext
message ids with their fields, for the web app to translate. Every action
is also a ``portal_uses`` row. A form's ``nonce`` makes a double submit a
no-op.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.agents.disposition import check_callback
from campaigns.agents.events import AgentCall
from campaigns.amounts import parse_amount
from campaigns.campaign import Offers
from campaigns.errors import InputRejected
from campaigns.ledger.chain import LedgerEntry, append, existing_keys, lock_ledger
from campaigns.negotiation.plans import PlanTaken, take_plan
from campaigns.payments.taken import insert_promise
from campaigns.portal.identity import parse_day
from campaigns.portal.links import Link, log_use
from campaigns.portal.offers import OfferSet, propose
from campaigns.portal.terms import Holder, Terms, holder, open_debts, terms_of
from campaigns.storage.accounts import Callback
from campaigns.storage.models import ContactPoint, CustomerOwner
from campaigns.storage.portal import ContactPreference
from campaigns.webhooks.record import record_opt_out
from channels import OptOutEvent

CHANNEL = "self_service"
PREFERRED_CHANNELS = ("voice", "sms", "whatsapp", "email")
OPT_OUT_CHANNELS = ("voice", "sms", "whatsapp", "email")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a form: the field, an English message id, its fields."""

    where: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.where}: {self.text % self.fields if self.fields else self.text}"


class PortalRefused(InputRejected):
    """The portal cannot do what was asked; ``problems`` say why, field by field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__([str(p) for p in problems])
        self.problems = problems


@dataclass(frozen=True)
class Context:
    """A verified link's customer and campaign terms, read once per request."""

    link: Link
    who: Holder
    terms: Terms

    @property
    def offers(self) -> Offers:
        """The campaign's offer terms for this customer's segment."""
        return self.terms.offers.for_segment(self.who.segment)


def context_of(engine: Engine, link: Link) -> Context | None:
    """The context of a live, verified ``link``; None if its customer is gone."""
    with engine.connect() as conn:
        who = holder(conn, link.customer_id)
        return None if who is None else Context(link, who, terms_of(conn, link.campaign))


def offers_for(engine: Engine, ctx: Context, now: dt.datetime) -> OfferSet | None:
    """What the customer qualifies for now (None when the campaign has no run yet)."""
    if ctx.terms.currency is None:
        return None
    with engine.connect() as conn:
        debts = open_debts(conn, ctx.who.pk)
    return propose(debts, ctx.offers, ctx.terms.currency, ctx.who.today(now))


def _entry(ctx: Context, kind: str, debts: tuple[str, ...], key: str, now: dt.datetime,
           extra: dict[str, Any]) -> LedgerEntry:  # fmt: skip
    return LedgerEntry(
        at=now,
        customer_id=ctx.who.customer_id,
        debt_ids=debts,
        channel=CHANNEL,
        direction="inbound",
        kind=kind,
        campaign=ctx.link.campaign,
        extra={**extra, "link": ctx.link.id},
        idempotency_key=key,
    )


def _done_before(conn: Connection, key: str) -> bool:
    return bool(existing_keys(conn, [key]))


def promise(
    engine: Engine, ctx: Context, form: dict[str, str], *, locale: str, now: dt.datetime
) -> int | None:
    """A promise to pay an amount of one currency by a date; the promise id (None if a replay)."""
    amount, currency, due_on, debts = _promise_form(engine, ctx, form, locale, now)
    key = f"portal:{ctx.link.id}:{_nonce(form)}:promise"
    with engine.begin() as conn:
        lock_ledger(conn)
        if _done_before(conn, key):
            return None
        extra = {"until": due_on.isoformat(), "amount": str(amount), "currency": currency}
        (ledger_id,) = append(conn, [_entry(ctx, "promise", debts, key, now, extra)], now=now)
        promise_id = _track(conn, ctx, amount, currency, due_on, now, ledger_id)
        log_use(conn, ctx.link.id, "promise", "ok", now=now, detail={"promise": promise_id})
    return promise_id


def _track(conn: Connection, ctx: Context, amount: Decimal, currency: str, due_on: dt.date,
           now: dt.datetime, ledger_id: int) -> int:  # fmt: skip
    """The tracked promise on the customer's total in ``currency``, as the desktop's."""
    return insert_promise(
        conn,
        customer_pk=ctx.who.pk,
        account_pk=None,
        amount=amount,
        currency=currency,
        due_on=due_on,
        created_at=now,
        source=CHANNEL,
        campaign=ctx.link.campaign,
        ledger_event_id=ledger_id,
    )


def _promise_form(
    engine: Engine, ctx: Context, form: dict[str, str], locale: str, now: dt.datetime
) -> tuple[Decimal, str, dt.date, tuple[str, ...]]:
    """The promise's amount, currency, date and debts; raises naming every problem."""
    with engine.connect() as conn:
        debts = open_debts(conn, ctx.who.pk)
    owed: dict[str, Decimal] = {}
    for d in debts:
        owed[d.currency] = owed.get(d.currency, Decimal(0)) + d.balance
    problems: list[Problem] = []
    currency = form.get("currency") or (next(iter(owed)) if len(owed) == 1 else "")
    if currency not in owed:
        problems.append(Problem("currency", "Choose the currency of one of your debts."))
    amount = Decimal(0)
    try:
        amount = parse_amount(form.get("amount", ""), locale)
    except ValueError:
        problems.append(Problem("amount", "Write the amount as %(example)s.",
                                {"example": _example(locale)}))  # fmt: skip
    if currency in owed and not Decimal(0) < amount <= owed[currency]:
        problems.append(
            Problem("amount", "The amount must be more than zero and at most what you owe.")
        )
    due_on = _due(form.get("due_on", ""), locale, ctx, now, problems)
    if problems:
        raise PortalRefused(problems)
    ids = tuple(d.account_id for d in debts if d.currency == currency)
    return amount, currency, due_on, ids


def _example(locale: str) -> str:
    from campaigns.amounts import EXAMPLE, written

    return written(EXAMPLE, locale)


def _due(
    text: str, locale: str, ctx: Context, now: dt.datetime, problems: list[Problem]
) -> dt.date:
    today = ctx.who.today(now)
    last = today + dt.timedelta(days=ctx.offers.promise_window_days)
    try:
        day = parse_day(text, locale)
    except ValueError:
        problems.append(Problem("due_on", "Choose a date."))
        return today
    if not today <= day <= last:
        span = {"first": today.isoformat(), "last": last.isoformat()}
        problems.append(Problem("due_on", "Choose a date between %(first)s and %(last)s.", span))
    return day


def _nonce(form: dict[str, str]) -> str:
    nonce = form.get("nonce", "")
    # A form without one (a hand-made POST) still works, once per request.
    return (
        nonce if 16 <= len(nonce) <= 64 and nonce.replace("-", "").isalnum() else uuid.uuid4().hex
    )


def accept_plan(
    engine: Engine, ctx: Context, form: dict[str, str], *, now: dt.datetime
) -> list[int]:
    """Accept the plan ``form['plan']`` names; one tracked promise per instalment (ids)."""
    offers = offers_for(engine, ctx, now)
    chosen = next((p for p in offers.plans if p.key == form.get("plan")), None) if offers else None
    if offers is None or chosen is None:
        raise PortalRefused([Problem("plan", "This plan is not offered to you.")])
    key = f"portal:{ctx.link.id}:{_nonce(form)}:plan"
    with engine.begin() as conn:
        lock_ledger(conn)
        if _done_before(conn, f"{key}:1"):
            return []
        taken = PlanTaken(
            customer_pk=ctx.who.pk, customer_id=ctx.who.customer_id, campaign=ctx.link.campaign,
            debt_ids=offers.debt_ids, currency=chosen.currency, instalments=chosen.instalments,
            channel=CHANNEL, direction="inbound", source=CHANNEL, key=key,
            extra={"plan": chosen.key, "link": ctx.link.id})  # fmt: skip
        ids = take_plan(conn, taken, now=now)
        log_use(
            conn, ctx.link.id, "plan", "ok", now=now, detail={"plan": chosen.key, "promises": ids}
        )
    return ids


def accept_settlement(
    engine: Engine, ctx: Context, form: dict[str, str], *, now: dt.datetime
) -> int | None:
    """Accept the settlement offered now: one tracked promise of the discounted amount.

    Recomputed by the offer engine at the moment of acceptance (the form
    only says "yes"): a ``promise`` event with ``extra.settlement`` (the
    discount and the total it is taken off) and a tracked promise of the
    discounted amount due by the end of the promise window. The promise id
    (None if a replay).
    """
    offers = offers_for(engine, ctx, now)
    offer = offers.settlement if offers else None
    if offers is None or offer is None:
        raise PortalRefused([Problem("settlement", "This offer is not available to you.")])
    key = f"portal:{ctx.link.id}:{_nonce(form)}:settlement"
    with engine.begin() as conn:
        lock_ledger(conn)
        if _done_before(conn, key):
            return None
        terms = {"discount": str(offer.discount), "total": str(offer.total)}
        extra = {"until": offer.pay_by.isoformat(), "amount": str(offer.amount),
                 "currency": offer.currency, "settlement": terms}  # fmt: skip
        (ledger_id,) = append(
            conn, [_entry(ctx, "promise", offers.debt_ids, key, now, extra)], now=now
        )
        promise_id = _track(conn, ctx, offer.amount, offer.currency, offer.pay_by, now, ledger_id)
        log_use(conn, ctx.link.id, "settlement", "ok", now=now,
                detail={"promise": promise_id, "discount": str(offer.discount)})  # fmt: skip
    return promise_id


def set_preference(engine: Engine, ctx: Context, form: dict[str, str], *, now: dt.datetime) -> None:
    """Keep the customer's preferred channel and local hours (replacing an earlier choice)."""
    channel = form.get("channel", "")
    problems: list[Problem] = []
    if channel not in PREFERRED_CHANNELS:
        problems.append(Problem("channel", "Choose a channel."))
    hours = _hours(form.get("hour_from", ""), form.get("hour_to", ""))
    if hours is None:
        problems.append(Problem("hours", "Choose hours from 0 to 24, the first before the second."))
    if problems or hours is None:
        raise PortalRefused(problems)
    values = {"channel": channel, "hour_from": hours[0], "hour_to": hours[1],
              "updated_at": now, "source": CHANNEL}  # fmt: skip
    key = f"portal:{ctx.link.id}:{_nonce(form)}:preference"
    with engine.begin() as conn:
        lock_ledger(conn)
        if _done_before(conn, key):
            return
        conn.execute(
            sa.delete(ContactPreference).where(ContactPreference.customer_id == ctx.who.customer_id)
        )
        conn.execute(sa.insert(ContactPreference).values(customer_id=ctx.who.customer_id, **values))
        extra = {"preferred": channel, "hour_from": hours[0], "hour_to": hours[1]}
        append(conn, [_entry(ctx, "preference", (), key, now, extra)], now=now)
        log_use(conn, ctx.link.id, "preference", "ok", now=now, detail=extra)


def _hours(first: str, second: str) -> tuple[int, int] | None:
    try:
        start, end = int(first), int(second)
    except ValueError:
        return None
    return (start, end) if 0 <= start < end <= 24 else None


def opt_out(engine: Engine, ctx: Context, form: dict[str, str], *, now: dt.datetime) -> int:
    """Opt the customer's points on ``form['channel']`` out, as a STOP would; how many points.

    Calls (``voice``) are opted out for this customer only, not per number: a
    phone number's opt-out mark stops every channel to it and every customer
    sharing it, while a debtor who says "no more calls" still reads texts.
    """
    channel = form.get("channel", "")
    if channel not in OPT_OUT_CHANNELS:
        raise PortalRefused([Problem("channel", "Choose a channel.")])
    if channel == "voice":
        return _no_more_calls(engine, ctx, _nonce(form), now)
    kind = "email" if channel == "email" else "phone"
    with engine.connect() as conn:
        points = [str(v) for v in conn.execute(
            sa.select(ContactPoint.value).where(
                ContactPoint.customer_id == ctx.who.pk, ContactPoint.kind == kind)
        ).scalars()]  # fmt: skip
    nonce = _nonce(form)
    for value in points:
        event = OptOutEvent(
            channel=channel,  # type: ignore[arg-type]  # checked against OPT_OUT_CHANNELS
            contact=value,
            reason=CHANNEL,
            provider="portal",
            source_event_id=f"{ctx.link.id}:{nonce}",
        )
        record_opt_out(engine, event, at=now, now=now)
    with engine.begin() as conn:
        log_use(conn, ctx.link.id, "opt_out", "ok", now=now,
                detail={"channel": channel, "points": len(points)})  # fmt: skip
    return len(points)


def _no_more_calls(engine: Engine, ctx: Context, nonce: str, now: dt.datetime) -> int:
    """An ``opt_out`` on voice for the customer (every number): the guard refuses calls at once.

    The row names no contact point, so the opt-out rule (Regulation F's
    1006.14(h), Ley 2300's revocatoria) reads it for every number of the
    customer; a later consent on voice lifts it. Returns 1 (0 for a replay).
    """
    key = f"portal:{ctx.link.id}:{nonce}:opt-out-voice"
    entry = replace(
        _entry(ctx, "opt_out", (), key, now, {"provider": "portal", "reason": CHANNEL}),
        channel="voice",
    )
    with engine.begin() as conn:
        lock_ledger(conn)
        if _done_before(conn, key):
            return 0
        append(conn, [entry], now=now)
        log_use(conn, ctx.link.id, "opt_out", "ok", now=now, detail={"channel": "voice"})
    return 1


def request_callback(
    engine: Engine, ctx: Context, form: dict[str, str], *, locale: str, now: dt.datetime
) -> int | None:
    """A callback at the customer's local date and hour, if the rules allow it; its id."""
    at = _callback_at(form, ctx, locale, now)
    call = AgentCall(agent=_owner(engine, ctx) or "", state="portal", at=None,
                     customer_id=ctx.who.customer_id, run_id=ctx.terms.run_id,
                     campaign=ctx.link.campaign)  # fmt: skip
    decision = check_callback(engine, call, at)
    if not decision.allowed:
        raise PortalRefused(
            [Problem("callback", "We cannot call you at that time; choose another.")]
        )
    key = f"portal:{ctx.link.id}:{_nonce(form)}:callback"
    with engine.begin() as conn:
        lock_ledger(conn)
        if _done_before(conn, key):
            return None
        callback_id = int(conn.execute(sa.insert(Callback).values(
            customer_id=ctx.who.customer_id, at=at, agent=call.agent, campaign=ctx.link.campaign,
            attempt_id=None, status="scheduled", rules=json.dumps(decision.to_dict()["rules"]),
            created_at=now)).inserted_primary_key[0])  # type: ignore[index]  # fmt: skip
        extra = {"callback": callback_id, "callback_at": at.isoformat()}
        append(conn, [_entry(ctx, "callback", (), key, now, extra)], now=now)
        log_use(conn, ctx.link.id, "callback", "ok", now=now, detail=extra)
    return callback_id


def _callback_at(form: dict[str, str], ctx: Context, locale: str, now: dt.datetime) -> dt.datetime:
    from zoneinfo import ZoneInfo

    problems: list[Problem] = []
    day = _due(form.get("day", ""), locale, ctx, now, problems)
    try:
        hour = int(form.get("hour", ""))
        if not 0 <= hour <= 23:
            raise ValueError(hour)
    except ValueError:
        problems.append(Problem("hour", "Choose an hour."))
        hour = 0
    zone = ZoneInfo(ctx.who.zones[0] if ctx.who.zones else "UTC")
    at = dt.datetime.combine(day, dt.time(hour), tzinfo=zone).astimezone(dt.UTC)
    if not problems and at <= now:
        problems.append(Problem("hour", "Choose a time later than now."))
    if problems:
        raise PortalRefused(problems)
    return at


def _owner(engine: Engine, ctx: Context) -> str | None:
    """The customer's owner, offered the callback first as with the desktop's."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(CustomerOwner.agent).where(CustomerOwner.customer_id == ctx.who.customer_id)
        ).scalar()
    return None if found is None else str(found)
