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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS, LedgerEntry, append
from campaigns.ledger.history import events_from_rows
from compliance import ComplianceInputError, Event, event_from_dict, event_to_dict


@dataclass
class ParsedHistory:
    """Events read from a JSON-lines file, or the located errors that stop its import."""

    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


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
        try:
            parsed.events.append(event_from_dict(doc))
        except ComplianceInputError as exc:
            parsed.errors.append(f"{where}: {exc.field}: {exc.problem}")
    return parsed


def _entry(event: Event) -> LedgerEntry:
    doc = event_to_dict(event)
    extra: dict[str, Any] = {k: doc[k] for k in ("granted", "until", "resolved") if k in doc}
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


def import_events(engine: Engine, events: list[Event], *, now: dt.datetime) -> int:
    """Append ``events`` (in time order) in one transaction; returns how many were new."""
    ordered = sorted(events, key=lambda e: e.at)
    with engine.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()
        append(conn, [_entry(e) for e in ordered], now=now)
        after = conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()
    return int(after - before)


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
    attempt_rows = [r for r in rows if r.resolves_id is None]
    for row, event in zip(attempt_rows, events_from_rows(rows), strict=True):
        yield event, int(row.id) in pending_ids


def export_jsonl(engine: Engine, out: TextIO, **filters: Any) -> tuple[int, int]:
    """Write settled events as JSON lines; returns (written, pending skipped).

    Pending attempts have no outcome yet, which the format requires; they are
    counted, not written, and appear in a later export once settled.
    """
    written = skipped = 0
    for event, pending in iter_events(engine, **filters):
        if pending:
            skipped += 1
            continue
        out.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
        written += 1
    return written, skipped
