"""The ledger's JSON-lines interchange format (docs/ledger-format.md): import and export.

Import is all-or-nothing like the portfolio's: every line is validated first,
errors are reported as ``file:line: field: message``, and only a clean file
is appended. Each event's idempotency key is the hash of its canonical form,
so importing the same file twice records it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS, LedgerEntry, append, existing_keys
from campaigns.ledger.history import folded_rows
from campaigns.payments.file import CURRENCY_RE, parse_amount
from campaigns.payments.taken import track_promise
from compliance import ComplianceInputError, Event, event_from_dict, event_to_dict


@dataclass(frozen=True)
class PromiseTerms:
    """What a ``promise`` event promised: an amount in a currency (by its ``until`` date)."""

    amount: Decimal
    currency: str


@dataclass
class ParsedHistory:
    """Events read from a JSON-lines file, or the located errors that stop its import.

    ``terms`` holds, by position in ``events``, the amount and currency of the
    promises that state them; such promises are tracked like one taken at the
    desktop (kept, partly kept or broken by the payments that follow).
    """

    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    terms: dict[int, PromiseTerms] = field(default_factory=dict)


def parse_jsonl(path: Path) -> ParsedHistory:
    """Read and validate every line of ``path``; blank lines are skipped."""
    parsed = ParsedHistory()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        parsed.errors.append(f"{path}:0: file: cannot read as UTF-8: {exc}")
        return parsed
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.errors.append(f"{where}: json: {exc.msg} at column {exc.colno}")
            continue
        terms = _promise_terms(doc, where, parsed.errors) if isinstance(doc, dict) else None
        try:
            parsed.events.append(event_from_dict(doc))
        except ComplianceInputError as exc:
            parsed.errors.append(f"{where}: {exc.field}: {exc.problem}")
            continue
        if terms is not None:
            parsed.terms[len(parsed.events) - 1] = terms
    return parsed


def _promise_terms(doc: dict[str, Any], where: str, errors: list[str]) -> PromiseTerms | None:
    """Take ``amount`` and ``currency`` off a promise (the rules never read them)."""
    amount, currency = doc.pop("amount", None), doc.pop("currency", None)
    if amount is None and currency is None:
        return None
    if doc.get("kind") != "promise":
        errors.append(f"{where}: amount: only promise events carry an amount and currency")
        return None
    parsed = parse_amount(str(amount)) if amount is not None else "required with a currency"
    if not isinstance(parsed, Decimal):
        errors.append(f"{where}: amount: {parsed}")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        errors.append(f"{where}: currency: {currency!r} is not an ISO 4217 code")
        return None
    return PromiseTerms(parsed, currency) if isinstance(parsed, Decimal) else None


def _entry(event: Event, terms: PromiseTerms | None = None) -> LedgerEntry:
    doc = event_to_dict(event)
    extra: dict[str, Any] = {k: doc[k] for k in ("granted", "until", "resolved") if k in doc}
    if terms is not None:
        extra.update(amount=str(terms.amount), currency=terms.currency)
        doc.update(amount=str(terms.amount), currency=terms.currency)
    key = "import:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    return LedgerEntry(
        at=event.at,
        customer_id=event.customer_id,
        debt_ids=event.debt_ids,
        channel=event.channel,
        direction=event.direction,
        kind=event.kind,
        outcome=event.outcome,
        contact_point=event.contact_point,
        line_type=event.line_type,
        campaign=event.campaign,
        agent=event.agent,
        duration_s=event.duration_s,
        extra=extra,
        idempotency_key=key,
    )


def import_events(
    engine: Engine,
    events: list[Event],
    *,
    now: dt.datetime,
    terms: Mapping[int, PromiseTerms] | None = None,
) -> int:
    """Append ``events`` (in time order) in one transaction; returns how many were new.

    A promise with ``terms`` (by position in ``events``) also becomes a tracked
    promise; its customer, and its debt if it names one, must be in the portfolio.
    """
    terms = terms or {}
    order = sorted(range(len(events)), key=lambda i: events[i].at)
    entries = [_entry(events[i], terms.get(i)) for i in order]
    with engine.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()
        known = existing_keys(conn, (e.idempotency_key for e in entries if e.idempotency_key))
        ids = append(conn, entries, now=now)
        after = conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()
        for position, ledger_id in zip(order, ids, strict=True):
            entry = entries[order.index(position)]
            if position in terms and entry.idempotency_key not in known:
                promised = terms[position]
                track_promise(
                    conn,
                    events[position],
                    promised.amount,
                    promised.currency,
                    ledger_id,
                    source="import",
                )
    return int(after - before)


def _folded(
    engine: Engine,
    customer_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Iterator[tuple[Any, Event, bool]]:
    """``(row, event, pending)`` for each contact event, attempts folded onto their outcomes."""
    query = sa.select(EVENTS).order_by(EVENTS.c.id)
    if customer_id is not None:
        query = query.where(EVENTS.c.customer_id == customer_id)
    if since is not None:
        query = query.where(EVENTS.c.at >= since)
    if until is not None:
        query = query.where(EVENTS.c.at < until)
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    resolved = {int(r.resolves_id) for r in rows if r.resolves_id is not None}
    pending_ids = {int(r.id) for r in rows if r.status == "pending" and int(r.id) not in resolved}
    for row, event in folded_rows(rows):
        yield row, event, int(row.id) in pending_ids


def iter_events(
    engine: Engine,
    *,
    customer_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Iterator[tuple[Event, bool]]:
    """Ledger events with attempts folded onto their outcomes; ``(event, pending)``.

    A pending attempt is yielded with its worst-case outcome and ``pending`` True.
    """
    for _, event, pending in _folded(engine, customer_id, since, until):
        yield event, pending


def export_jsonl(engine: Engine, out: TextIO, **filters: Any) -> tuple[int, int]:
    """Write settled events as JSON lines; returns (written, pending skipped).

    Pending attempts have no outcome yet, which the format requires; they are
    counted, not written, and appear in a later export once settled.
    """
    written = skipped = 0
    for row, event, pending in _folded(engine, **filters):
        if pending:
            skipped += 1
            continue
        doc = event_to_dict(event)
        extra = json.loads(row.extra) if row.extra else {}
        if event.kind == "promise" and "amount" in extra:
            doc.update(amount=extra["amount"], currency=extra["currency"])
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        written += 1
    return written, skipped
