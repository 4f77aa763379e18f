"""The agent's disposition: validated against the debtor's balances and the rules, then saved.

Saving is one transaction: the attempt's outcome (unless the dial session
already recorded it), the promise or dispute as ledger events (through
``campaigns.ledger.chain.append``, so they join the hash chain), the
``promises`` row, a wrong number on its contact point, a callback the rules
allow, and the wrap-up record. A promise and a dispute are ledger events
because the compliance rules read them: a pending promise holds further
contact (house rule H-1), an open dispute holds collection (H-2).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.agents.events import AgentCall
from campaigns.amounts import AmountError, locale_of, parse_amount
from campaigns.errors import InputRejected
from campaigns.ledger.chain import EVENTS, LedgerEntry, append, lock_ledger
from campaigns.ledger.guard import LOOKBACK
from campaigns.ledger.history import customer_histories
from campaigns.payments.taken import insert_promise
from campaigns.run.stored import campaign_of
from campaigns.storage.accounts import Callback, Disposition
from campaigns.storage.models import Account, ContactPoint, Customer, Run
from campaigns.texts import Msg, msg
from compliance import Decision, Pack, Proposal, RuleResult, evaluate, load_packs

PARTIES = ("right", "wrong_party", "wrong_number")
RESULTS = ("promise", "refusal", "dispute", "callback", "none")
PROMISE_HORIZON = dt.timedelta(days=90)


class DispositionError(InputRejected):
    """The form cannot be saved; ``errors`` name each field and what is wrong."""


@dataclass(frozen=True)
class Form:
    """A validated disposition."""

    party: str
    result: str
    promise_account: str | None = None  # an account id, or None for the total
    amount: Decimal | None = None
    currency: str | None = None
    due_on: dt.date | None = None
    callback_at: dt.datetime | None = None


def parse_form(raw: Mapping[str, str], view: Mapping[str, Any], *, now: dt.datetime) -> Form:
    """Check the posted fields against the customer's 360 ``view``; raise naming each problem.

    A promise is for one open account (at most its balance) or for the total
    in one currency (at most the total due), due between today and 90 days out
    (the customer's today); a callback is for a later time, in the customer's zone.
    """
    zone = ZoneInfo((view.get("timezones") or ["UTC"])[0])
    today = now.astimezone(zone).date()
    errors: list[Msg] = []
    party = raw.get("party", "")
    if party not in PARTIES:
        errors.append(msg("party: choose one of %(choices)s", choices=", ".join(PARTIES)))
    result = raw.get("result", "none") if party == "right" else "none"
    if result not in RESULTS:
        errors.append(msg("result: choose one of %(choices)s", choices=", ".join(RESULTS)))
    if errors:
        raise DispositionError(errors)
    if result == "promise":
        return _promise(raw, view, today, errors)
    if result == "callback":
        text = raw.get("callback_at", "")
        try:
            local = dt.datetime.fromisoformat(text)
        except ValueError:
            raise DispositionError(
                [
                    msg(
                        "callback_at: %(text)s is not a date and time (YYYY-MM-DDTHH:MM)",
                        text=repr(text),
                    )
                ]
            ) from None
        at = local.replace(tzinfo=zone) if local.tzinfo is None else local
        if at <= now:
            shown = now.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            raise DispositionError(
                [
                    msg(
                        "callback_at: %(text)s is in the past (it is %(now)s for the customer)",
                        text=text,
                        now=shown,
                    )
                ]
            )
        return Form(party, result, callback_at=at.astimezone(dt.UTC))
    return Form(party, result)


def _promise(
    raw: Mapping[str, str], view: Mapping[str, Any], today: dt.date, errors: list[Msg]
) -> Form:
    scope = raw.get("promise_account", "total") or "total"
    text = raw.get("amount", "")
    try:
        # As the customer's country writes money: 150.000,50 in Bogotá is
        # 150000.50, never 15,000,050 (campaigns.amounts).
        amount = parse_amount(text, locale_of(view.get("language"), view.get("country")))
        if amount <= 0:
            raise AmountError(msg("%(text)s must be more than zero", text=repr(text)))
    except AmountError as exc:
        errors.append(msg("amount: %(problem)s", problem=exc.text))
        amount = Decimal(0)
    open_accounts = {a["account_id"]: a for a in view["accounts"] if a["status"] == "open"}
    if scope == "total":
        totals = {c: Decimal(v) for c, v in view["total_due"].items()}
        currency = raw.get("currency") or (next(iter(totals)) if len(totals) == 1 else "")
        if currency not in totals:
            errors.append(
                msg(
                    "currency: %(currency)s is not owed; owed in %(owed)s",
                    currency=repr(currency),
                    owed=str(sorted(totals)),
                )
            )
            limit = None
        else:
            limit = totals[currency]
        account = None
    else:
        acc = open_accounts.get(scope)
        if acc is None:
            errors.append(
                msg(
                    "promise_account: %(account)s is not an open account of this customer",
                    account=repr(scope),
                )
            )
            limit, currency, account = None, "", None
        else:
            limit, currency, account = Decimal(acc["balance"]), acc["currency"], scope
    if limit is not None and amount > limit:
        where = (
            msg("account %(account)s", account=account)
            if account
            else msg("the total due in %(currency)s", currency=currency)
        )
        errors.append(
            msg(
                "amount: %(amount)s exceeds the balance of %(where)s (%(limit)s)",
                amount=str(amount),
                where=where,
                limit=str(limit),
            )
        )
    due_text = raw.get("due_on", "")
    try:
        due_on = dt.date.fromisoformat(due_text)
    except ValueError:
        errors.append(msg("due_on: %(text)s is not a date (YYYY-MM-DD)", text=repr(due_text)))
        due_on = today
    else:
        if not today <= due_on <= today + PROMISE_HORIZON:
            errors.append(
                msg(
                    "due_on: %(day)s must be between %(first)s and %(last)s",
                    day=str(due_on),
                    first=str(today),
                    last=str(today + PROMISE_HORIZON),
                )
            )
    if errors:
        raise DispositionError(errors)
    return Form("right", "promise", account, amount, currency, due_on)


def _attempt(conn: Connection, attempt_id: int | None) -> Any:
    if attempt_id is None:
        return None
    return conn.execute(
        sa.select(EVENTS).where(EVENTS.c.id == attempt_id, EVENTS.c.kind == "attempt")
    ).first()


def _packs_for_call(
    conn: Connection, call: AgentCall, country: str, sub: str | None
) -> tuple[Pack, ...]:
    if call.run_id is None:
        return ()
    run = conn.execute(sa.select(Run.__table__).where(Run.id == call.run_id)).mappings().first()
    if run is None:
        return ()
    names = campaign_of(Run(**dict(run))).packs_for(country, sub)
    return tuple(load_packs(names)) if names else ()


def check_callback(engine: Engine, call: AgentCall, at: dt.datetime) -> Decision:
    """What the rules of the call's campaign say about calling the debtor back at ``at``.

    Fails closed: no run, no rule pack or no time zone means no callback.
    """
    assert call.customer_id is not None
    with engine.connect() as conn:
        customer = conn.execute(
            sa.select(Customer).where(Customer.external_id == call.customer_id)
        ).first()
        if customer is None:
            return Decision(False, (RuleResult("callback", "", False, "customer unknown"),))
        packs = _packs_for_call(conn, call, customer.country, customer.subdivision)
        zones = tuple(z for z in customer.timezones.split(";") if z)
        if not packs or not zones:
            missing = "rule packs for this call's campaign" if not packs else "a time zone"
            return Decision(
                False, (RuleResult("callback", "", False, f"cannot check: no {missing}"),)
            )
        debts = tuple(
            str(d)
            for d in conn.execute(
                sa.select(Account.external_id).where(
                    Account.customer_id == customer.id, Account.status == "open"
                )
            ).scalars()
        )
        history = customer_histories(conn, [call.customer_id], at - LOOKBACK)[call.customer_id]
    proposal = Proposal(
        at=at,
        customer_id=call.customer_id,
        debt_ids=debts,
        channel="voice",
        timezones=zones,
        campaign=call.campaign,
        autodialed=False,  # an agent dials a requested callback by hand
        agent_guaranteed=True,
    )
    return evaluate(packs, history.events, proposal)


def save_disposition(
    engine: Engine,
    call: AgentCall,
    form: Form,
    *,
    now: dt.datetime,
    callback_decision: Decision | None = None,
) -> int:
    """Write everything the disposition means, in one transaction; returns its id.

    In order: the attempt's outcome (unless already recorded), the promise or
    dispute or callback the result asks for, a wrong number on its contact
    point, the ledger entries, then the wrap-up record.
    """
    cid = call.customer_id
    assert cid is not None
    key = f"disposition:{call.agent}:{call.attempt_id or now.isoformat()}"
    with engine.begin() as conn:
        # The ledger lock first: two saves of one call (a double click, two
        # tabs) queue here, and the second finds the first's wrap-up record.
        lock_ledger(conn)
        _refuse_if_saved(conn, call)
        customer = conn.execute(sa.select(Customer).where(Customer.external_id == cid)).one()
        accounts = _open_accounts(conn, customer.id)
        attempt = _attempt(conn, call.attempt_id)
        debts = tuple(json.loads(attempt.debt_ids)) if attempt is not None else tuple(accounts)
        common: dict[str, Any] = {
            "customer_id": cid,
            "channel": "voice",
            "direction": attempt.direction if attempt is not None else "outbound",
            "campaign": call.campaign,
            "agent": call.agent,
        }
        entries: list[LedgerEntry] = []
        outcome = _unsettled_outcome(conn, attempt, form, debts, common, now)
        if outcome is not None:
            entries.append(outcome)
        promise_id = callback_id = promise_at = None
        if form.result == "promise":
            promise_at = len(entries)
            entries.append(_promise_entry(form, debts, common, key, now))
        elif form.result == "dispute":
            entries.append(_dispute_entry(debts, common, key, now))
        elif form.result == "callback":
            assert callback_decision is not None
            callback_id = _insert_callback(conn, call, form, callback_decision, now)
        if form.party == "wrong_number":
            _mark_wrong_number(conn, customer.id, attempt, now)
        ledger_ids = append(conn, entries, now=now)
        if promise_at is not None:
            # Tracked with the ledger row that took it, which its settlement resolves.
            promise_id = _insert_promise(
                conn, call, form, customer.id, accounts, now, ledger_ids[promise_at]
            )
        disposition_id = _insert_disposition(conn, call, form, promise_id, callback_id, now)
    return disposition_id


def _refuse_if_saved(conn: Connection, call: AgentCall) -> None:
    """Raise if this agent already saved the disposition of this call."""
    if call.attempt_id is None:
        return
    done = conn.execute(
        sa.select(Disposition.id).where(
            Disposition.agent == call.agent, Disposition.attempt_id == call.attempt_id
        )
    ).scalar()
    if done is not None:
        raise DispositionError(
            [msg("call %(call)s: the disposition is already saved", call=call.attempt_id)]
        )


def _open_accounts(conn: Connection, customer_pk: int) -> dict[str, Any]:
    """The customer's open accounts by external id."""
    return {
        str(a.external_id): a
        for a in conn.execute(
            sa.select(Account)
            .where(Account.customer_id == customer_pk, Account.status == "open")
            .order_by(Account.external_id)  # a promise without a call names them in this order
        )
    }


def _unsettled_outcome(
    conn: Connection,
    attempt: Any,
    form: Form,
    debts: tuple[str, ...],
    common: dict[str, Any],
    now: dt.datetime,
) -> LedgerEntry | None:
    """The attempt's outcome as the agent saw it, unless the dial session recorded one."""
    if attempt is None or attempt.status != "pending":
        return None
    settled = conn.execute(
        sa.select(sa.func.count()).where(EVENTS.c.resolves_id == attempt.id)
    ).scalar_one()
    if settled:
        return None
    outcome = "conversation" if form.party == "right" else "wrong_party"
    return LedgerEntry(
        at=now,
        debt_ids=debts,
        kind="attempt",
        outcome=outcome,
        resolves_id=int(attempt.id),
        contact_point=attempt.contact_point,
        line_type=attempt.line_type,
        extra={"source": "agent disposition", "result": form.result},
        idempotency_key=f"outcome:{attempt.id}:{outcome}",
        **common,
    )


def _promise_entry(
    form: Form, debts: tuple[str, ...], common: dict[str, Any], key: str, now: dt.datetime
) -> LedgerEntry:
    """The promise as a ledger event: a pending promise holds further contact (H-1)."""
    assert form.amount is not None and form.due_on is not None
    promised = (form.promise_account,) if form.promise_account else debts
    return LedgerEntry(
        at=now,
        debt_ids=promised,
        kind="promise",
        extra={
            "until": form.due_on.isoformat(),
            "amount": str(form.amount),
            "currency": form.currency,
        },
        idempotency_key=f"{key}:promise",
        **common,
    )


def _insert_promise(
    conn: Connection,
    call: AgentCall,
    form: Form,
    customer_pk: int,
    accounts: Mapping[str, Any],
    now: dt.datetime,
    ledger_id: int,
) -> int:
    """The tracked promise (with its campaign's grace period); returns its id."""
    assert form.amount is not None and form.currency is not None and form.due_on is not None
    return insert_promise(
        conn,
        customer_pk=customer_pk,
        account_pk=accounts[form.promise_account].id if form.promise_account else None,
        amount=form.amount,
        currency=form.currency,
        due_on=form.due_on,
        created_at=now,
        source=call.agent,
        campaign=call.campaign,
        ledger_event_id=ledger_id,
    )


def _dispute_entry(
    debts: tuple[str, ...], common: dict[str, Any], key: str, now: dt.datetime
) -> LedgerEntry:
    """The dispute as a ledger event: an open dispute holds collection (H-2)."""
    return LedgerEntry(
        at=now,
        debt_ids=debts,
        kind="dispute",
        extra={"resolved": False},
        idempotency_key=f"{key}:dispute",
        **common,
    )


def _insert_callback(
    conn: Connection, call: AgentCall, form: Form, decision: Decision, now: dt.datetime
) -> int:
    """The scheduled callback, with the rules that allowed it; returns its id."""
    assert form.callback_at is not None
    return int(
        conn.execute(
            sa.insert(Callback).values(
                customer_id=call.customer_id,
                at=form.callback_at,
                agent=call.agent,
                campaign=call.campaign,
                attempt_id=call.attempt_id,
                status="scheduled",
                rules=json.dumps(decision.to_dict()["rules"]),
                created_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )


def _mark_wrong_number(conn: Connection, customer_pk: int, attempt: Any, now: dt.datetime) -> None:
    """Flag the number the attempt dialed (or, without an attempt, the first phone)."""
    number = attempt.contact_point if attempt is not None else None
    query = sa.update(ContactPoint).where(
        ContactPoint.customer_id == customer_pk, ContactPoint.kind == "phone"
    )
    if number:
        query = query.where(ContactPoint.value == number)
    else:
        query = query.where(ContactPoint.position == 1)
    conn.execute(query.values(wrong_number_at=now))


def _insert_disposition(
    conn: Connection,
    call: AgentCall,
    form: Form,
    promise_id: int | None,
    callback_id: int | None,
    now: dt.datetime,
) -> int:
    """The wrap-up record; returns its id."""
    return int(
        conn.execute(
            sa.insert(Disposition).values(
                customer_id=call.customer_id,
                agent=call.agent,
                attempt_id=call.attempt_id,
                run_id=call.run_id,
                campaign=call.campaign,
                party=form.party,
                result=form.result,
                promise_id=promise_id,
                callback_id=callback_id,
                saved_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )
