"""The desk's offers, an agent's ask recorded, and the supervisor's decision.

* ``desk_offers``: what the customer qualifies for under the call's campaign
  (or, opened without one, the campaign of the newest run that considered
  them), with the limits, from the same engine and terms as the portal.
* ``record``: an ask inside the limits becomes tracked promises at once
  (``campaigns.negotiation.plans``); one beyond them is an ``offer_requests``
  row, ``pending``, naming each limit it exceeds. The same ask again while
  it is pending is the same request.
* ``decide``: approve (the plan's promises, with the approver in the ledger
  events) or reject (a reason is required). The update is guarded by
  ``status = 'pending'``: two supervisors deciding at once decide once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.ledger.chain import EVENTS, existing_keys, lock_ledger
from campaigns.negotiation.forms import OfferRefused
from campaigns.negotiation.plans import PlanTaken, take_plan
from campaigns.negotiation.rules import Exceeded, Judged, Limits, limits
from campaigns.observability import user_ref
from campaigns.portal.offers import Instalment, OfferSet, propose
from campaigns.portal.terms import holder, open_debts, terms_of
from campaigns.storage.models import Account, Customer, OfferRequest, Run, RunCustomer
from campaigns.texts import msg

log = logging.getLogger(__name__)
CHANNEL = "voice"  # the desk's offers are agreed on a call, as its dispositions


@dataclass(frozen=True)
class DeskOffers:
    """A customer's offers and limits under one campaign, on the customer's today."""

    customer_pk: int
    customer_id: str
    campaign: str
    offers: OfferSet
    limits: Limits


@dataclass(frozen=True)
class Desk:
    """Who asks, and on which call (None: a record opened without one)."""

    agent: str
    username: str
    attempt_id: int | None


@dataclass(frozen=True)
class Recorded:
    """What became of an ask: promises taken, or a pending request."""

    promise_ids: tuple[int, ...]
    request_id: int | None
    exceeded: tuple[Exceeded, ...]


class AlreadyDecided(OfferRefused):
    """The request is not pending any more (another supervisor decided it first)."""


def desk_offers(
    engine: Engine, customer_id: str, campaign: str | None, now: dt.datetime
) -> DeskOffers | None:
    """The offers of ``customer_id`` under ``campaign``; None when no terms or no debt apply."""
    with engine.connect() as conn:
        who = holder(conn, customer_id)
        chosen = campaign or _newest_campaign(conn, customer_id)
        if who is None or chosen is None:
            return None
        terms = terms_of(conn, chosen)
        if terms.currency is None:
            return None
        debts = open_debts(conn, who.pk)
    today = who.today(now)
    offers = terms.offers.for_segment(who.segment)  # the customer's segment's terms
    offer_set = propose(debts, offers, terms.currency, today)
    if not offer_set.debt_ids:
        return None
    return DeskOffers(who.pk, customer_id, chosen, offer_set, limits(offer_set, offers, today))


def _newest_campaign(conn: Connection, customer_id: str) -> str | None:
    """The campaign of the newest run that considered the customer."""
    found = conn.execute(
        sa.select(Run.campaign)
        .join(RunCustomer, RunCustomer.run_id == Run.id)
        .where(RunCustomer.customer_id == customer_id)
        .order_by(Run.day.desc(), Run.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else str(found)


def record(
    engine: Engine, desk_offer: DeskOffers, judged: Judged, desk: Desk, *, now: dt.datetime,
    nonce: str = "",
) -> Recorded:  # fmt: skip
    """Take ``judged`` at once if inside the limits, else file it for a supervisor."""
    lim = desk_offer.limits
    with engine.begin() as conn:
        direction = _direction(conn, desk.attempt_id)
        if judged.inside:
            lock_ledger(conn)
            key = f"offer:{desk.agent}:{desk_offer.customer_id}:{_nonce(nonce)}"
            if existing_keys(conn, [f"{key}:1"]):
                return Recorded((), None, ())
            extra = {**_named(judged, lim), "agent": desk.agent}
            plan = _taken(desk_offer.customer_pk, desk_offer.customer_id, desk_offer.campaign,
                          lim.debt_ids, lim.currency, judged.schedule, direction, desk.agent,
                          key, extra)  # fmt: skip
            ids = take_plan(conn, plan, now=now)
            log.info("agent %s took a %s for %s", desk.agent, judged.ask.kind, plan.customer_id)
            return Recorded(tuple(ids), None, ())
        ask = json.dumps(_ask_doc(judged, lim), sort_keys=True)
        same = conn.execute(
            sa.select(OfferRequest.id).where(
                OfferRequest.agent == desk.agent,
                OfferRequest.customer_id == desk_offer.customer_id,
                OfferRequest.status == "pending",
                OfferRequest.ask == ask,
            )
        ).scalar()
        if same is not None:  # a double submit, or the same ask again: one request
            return Recorded((), int(same), judged.exceeded)
        values = dict(
            kind=judged.ask.kind, customer_id=desk_offer.customer_id,
            campaign=desk_offer.campaign, agent=desk.agent, requested_by=desk.username,
            requested_at=now, attempt_id=desk.attempt_id, direction=direction,
            currency=lim.currency, total=lim.total, debt_ids=json.dumps(list(lim.debt_ids)),
            ask=ask, exceeded=json.dumps([e.__dict__ for e in judged.exceeded]),
            status="pending",
        )  # fmt: skip
        request_id = int(conn.execute(sa.insert(OfferRequest).values(**values))
                         .inserted_primary_key[0])  # type: ignore[index]  # fmt: skip
    log.info("agent %s asked a supervisor for request %s", desk.agent, request_id)
    return Recorded((), request_id, judged.exceeded)


def _direction(conn: Connection, attempt_id: int | None) -> str:
    """The call's direction, as the desktop's dispositions record it (outbound without one)."""
    if attempt_id is None:
        return "outbound"
    found = conn.execute(sa.select(EVENTS.c.direction).where(EVENTS.c.id == attempt_id)).scalar()
    return str(found or "outbound")


def _nonce(nonce: str) -> str:
    # A form without one (a hand-made POST) still works, once per request.
    ok = 16 <= len(nonce) <= 64 and nonce.replace("-", "").isalnum()
    return nonce if ok else uuid.uuid4().hex


def _named(judged: Judged, lim: Limits) -> dict[str, Any]:
    """What the ledger events name: the plan, or the settlement with its discount."""
    if judged.ask.kind == "settlement":
        return {"plan": "settlement", "discount": str(judged.discount), "total": str(lim.total)}
    return {"plan": f"plan-{judged.ask.instalments}", "every_days": judged.ask.every_days}


def _ask_doc(judged: Judged, lim: Limits) -> dict[str, Any]:
    ask = judged.ask
    doc: dict[str, Any] = {"kind": ask.kind, **_named(judged, lim)}
    if ask.kind == "settlement":
        doc.update(amount=str(ask.amount), pay_by=str(ask.pay_by))
    else:
        doc.update(instalments=ask.instalments, down_payment=str(ask.down_payment))
    doc["schedule"] = [
        {"number": i.number, "due_on": i.due_on.isoformat(), "amount": str(i.amount)}
        for i in judged.schedule
    ]
    return doc


def _taken(customer_pk: int, customer_id: str, campaign: str, debts: tuple[str, ...],
           currency: str, schedule: tuple[Instalment, ...], direction: str, agent: str,
           key: str, extra: dict[str, Any]) -> PlanTaken:  # fmt: skip
    return PlanTaken(
        customer_pk=customer_pk, customer_id=customer_id, campaign=campaign, debt_ids=debts,
        currency=currency, instalments=schedule, channel=CHANNEL, direction=direction,
        source=agent, key=key, agent=agent, extra=extra,
    )  # fmt: skip


def decide(
    engine: Engine, request_id: int, *, approve: bool, by: str, role: str, reason: str,
    now: dt.datetime,
) -> list[int]:  # fmt: skip
    """Approve or reject a pending request; the promises an approval took.

    Raises ``OfferRefused`` for a rejection without a reason, ``AlreadyDecided``
    when the request is no longer pending: the update admits one decision.
    """
    reason = reason.strip()
    if not approve and not reason:
        raise OfferRefused([msg("Reject: write the reason the agent will read.")])
    status = "approved" if approve else "rejected"
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(OfferRequest)
            .where(OfferRequest.id == request_id, OfferRequest.status == "pending")
            .values(status=status, decided_by=by, decided_role=role, decided_at=now,
                    reason=reason or None)
        ).rowcount  # fmt: skip
        if done != 1:
            raise _already(conn, request_id)
        ids = _approve(conn, request_id, by, now) if approve else []
    log.info("%s %s offer request %s", user_ref(by), status, request_id)
    return ids


def _already(conn: Connection, request_id: int) -> OfferRefused:
    row = conn.execute(
        sa.select(OfferRequest.status, OfferRequest.decided_by).where(OfferRequest.id == request_id)
    ).first()
    if row is None:
        return OfferRefused([msg("Offer request %(id)s does not exist.", id=request_id)])
    status = msg(str(row.status))  # approved or rejected, in the reader's language
    text = msg("Offer request %(id)s was already %(status)s by %(who)s.", id=request_id,
               status=status, who=row.decided_by)  # fmt: skip
    return AlreadyDecided([text])


def _approve(conn: Connection, request_id: int, by: str, now: dt.datetime) -> list[int]:
    """The approved request's promises, as the agent agreed them, naming the approver."""
    row = conn.execute(sa.select(OfferRequest).where(OfferRequest.id == request_id)).one()
    customer_pk = conn.execute(
        sa.select(Customer.id).where(Customer.external_id == row.customer_id)
    ).scalar_one()
    ask = json.loads(row.ask)
    schedule = tuple(
        Instalment(int(i["number"]), dt.date.fromisoformat(i["due_on"]), Decimal(i["amount"]))
        for i in ask["schedule"]
    )
    named = {k: ask[k] for k in ("plan", "discount", "total", "every_days") if k in ask}
    extra = {**named, "agent": row.agent, "request": request_id, "approved_by": by}
    lock_ledger(conn)
    plan = _taken(int(customer_pk), row.customer_id, row.campaign,
                  tuple(json.loads(row.debt_ids)), row.currency, schedule, row.direction,
                  row.agent, f"offer-request:{request_id}", extra)  # fmt: skip
    ids = take_plan(conn, plan, now=now)
    conn.execute(
        sa.update(OfferRequest)
        .where(OfferRequest.id == request_id)
        .values(promise_ids=json.dumps(ids))
    )
    return ids


@dataclass(frozen=True)
class RequestView:
    """One request as the queue and the desktop show it."""

    id: int
    kind: str
    customer_id: str
    name: str
    campaign: str
    agent: str
    requested_by: str
    requested_at: dt.datetime
    currency: str
    total: Decimal
    ask: dict[str, Any]
    exceeded: list[Exceeded]
    status: str
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    debts: list[dict[str, Any]]


def pending(engine: Engine, limit: int = 200) -> list[RequestView]:
    """The pending requests, oldest first, with each customer's open debts now."""
    return _views(engine, OfferRequest.status == "pending", OfferRequest.id.asc(), limit)


def decided(engine: Engine, limit: int = 20) -> list[RequestView]:
    """The latest decisions, newest first."""
    return _views(engine, OfferRequest.status != "pending", OfferRequest.decided_at.desc(), limit)


def of_agent(engine: Engine, agent: str, limit: int = 20) -> list[RequestView]:
    """The agent's own requests, newest first."""
    return _views(engine, OfferRequest.agent == agent, OfferRequest.id.desc(), limit)


def decided_ids(engine: Engine, agent: str, limit: int = 50) -> dict[int, str]:
    """The statuses of the agent's latest decided requests, by id (what the desktop pushes)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(OfferRequest.id, OfferRequest.status)
            .where(OfferRequest.agent == agent, OfferRequest.status != "pending")
            .order_by(OfferRequest.id.desc())
            .limit(limit)
        ).all()
    return {int(r.id): str(r.status) for r in rows}


def _views(engine: Engine, where: Any, order: Any, limit: int) -> list[RequestView]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(OfferRequest.__table__, Customer.name.label("customer_name"),
                      Customer.id.label("pk"))
            .outerjoin(Customer, Customer.external_id == OfferRequest.customer_id)
            .where(where)
            .order_by(order)
            .limit(limit)
        ).mappings().all()  # fmt: skip
        debts = _debts(conn, [r["pk"] for r in rows if r["pk"] is not None])
    return [_view(r, debts.get(r["pk"], [])) for r in rows]


def _view(r: Any, debts: list[dict[str, Any]]) -> RequestView:
    exceeded = [Exceeded(**e) for e in json.loads(r["exceeded"])]
    return RequestView(
        r["id"], r["kind"], r["customer_id"], r["customer_name"] or "", r["campaign"], r["agent"],
        r["requested_by"], r["requested_at"], r["currency"], Decimal(r["total"]),
        json.loads(r["ask"]), exceeded, r["status"], r["decided_by"], r["decided_at"],
        r["reason"], debts,
    )  # fmt: skip


def _debts(conn: Connection, customer_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The open debts of these customers, by customer."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not customer_pks:
        return found
    rows = conn.execute(
        sa.select(Account.customer_id, Account.external_id, Account.product, Account.balance,
                  Account.currency, Account.days_past_due)
        .where(Account.customer_id.in_(sorted(set(customer_pks))), Account.status == "open")
        .order_by(Account.customer_id, Account.external_id)
    )  # fmt: skip
    for r in rows:
        found.setdefault(int(r.customer_id), []).append(
            {"account_id": r.external_id, "product": r.product, "balance": r.balance,
             "currency": r.currency, "days_past_due": r.days_past_due}
        )  # fmt: skip
    return found
