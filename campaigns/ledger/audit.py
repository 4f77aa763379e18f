"""What compliance officers ask of the ledger: timelines and re-judged attempts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from campaigns.ledger.chain import EVENTS
from campaigns.ledger.guard import LOOKBACK
from campaigns.ledger.history import CustomerHistory, customer_histories
from campaigns.ledger.interchange import iter_events
from campaigns.storage.models import Customer
from compliance import Pack, Proposal, evaluate, event_to_dict, load_packs


def timeline(
    engine: Engine,
    customer_id: str,
    *,
    debt_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Every event of one customer (optionally one debt) in time order, pending flagged.

    An event that names no debt concerns all of them, so it stays in a per-debt view.
    """
    out = []
    for event, pending in iter_events(engine, customer_id=customer_id, since=since, until=until):
        if debt_id is not None and event.debt_ids and debt_id not in event.debt_ids:
            continue
        doc = event_to_dict(event)
        if pending:
            doc.pop("outcome", None)
            doc["pending"] = True
        out.append(doc)
    out.sort(key=lambda d: d["at"])
    return out


@dataclass(frozen=True)
class Finding:
    """An attempt that the rules it was judged under would refuse today (or can't judge)."""

    event_id: int
    at: dt.datetime
    customer_id: str
    channel: str
    packs: tuple[str, ...]
    failed: tuple[dict[str, Any], ...]
    kind: str  # "violation" | "unverifiable"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "event_id": self.event_id,
            "at": self.at.isoformat(),
            "customer_id": self.customer_id,
            "channel": self.channel,
            "packs": list(self.packs),
            "kind": self.kind,
            "failed_rules": list(self.failed),
        }


def violations(
    engine: Engine,
    since: dt.datetime,
    until: dt.datetime,
    *,
    default_packs: tuple[str, ...] = (),
) -> tuple[int, list[Finding]]:
    """Re-evaluate every outbound attempt in [since, until); returns (checked, findings).

    Each attempt is judged by the packs recorded on it at contact time (or
    ``default_packs`` for history imported from another system), against the
    history the ledger holds before it, with the outcomes now known. An
    attempt that cannot be judged (no packs, no time zone) is a finding too.
    """
    pack_cache: dict[tuple[str, ...], tuple[Pack, ...]] = {}
    with engine.connect() as conn:
        attempts = _outbound_attempts(conn, since, until)
        customers = sorted({a.customer_id for a in attempts})
        zones = _customer_zones(conn, customers)
        histories = customer_histories(conn, customers, since - LOOKBACK)
    findings: list[Finding] = []
    for row in attempts:
        finding = _judge(row, zones, histories, default_packs, pack_cache)
        if finding is not None:
            findings.append(finding)
    return len(attempts), findings


def _outbound_attempts(conn: Connection, since: dt.datetime, until: dt.datetime) -> list[Row[Any]]:
    """The outbound attempts made in [since, until), their outcome rows left out, by id."""
    return list(
        conn.execute(
            sa.select(EVENTS)
            .where(
                EVENTS.c.kind == "attempt",
                EVENTS.c.direction == "outbound",
                EVENTS.c.resolves_id.is_(None),
                EVENTS.c.at >= since,
                EVENTS.c.at < until,
            )
            .order_by(EVENTS.c.id)
        )
    )


def _customer_zones(conn: Connection, customers: list[str]) -> dict[str, str]:
    """Each customer's time zones as stored (``;``-separated), by external id."""
    if not customers:
        return {}
    return dict(
        conn.execute(
            sa.select(Customer.external_id, Customer.timezones).where(
                Customer.external_id.in_(customers)
            )
        ).all()
    )


def _judge(
    row: Row[Any],
    zones: Mapping[str, str],
    histories: Mapping[str, CustomerHistory],
    default_packs: tuple[str, ...],
    pack_cache: dict[tuple[str, ...], tuple[Pack, ...]],
) -> Finding | None:
    """The finding on one attempt, or None when its rules still allow it."""
    extra = json.loads(row.extra or "{}")
    names = tuple(extra.get("packs") or default_packs)
    tzs = tuple(extra.get("timezones") or (zones.get(row.customer_id) or "").split(";"))
    tzs = tuple(z for z in tzs if z)
    common = (int(row.id), row.at, row.customer_id, row.channel, names)
    if not names or not tzs:
        missing = "rule packs" if not names else "time zone"
        detail = {
            "rule": "audit",
            "citation": "",
            "ok": False,
            "detail": f"no {missing} recorded for this attempt: cannot be verified",
        }
        return Finding(*common, (detail,), "unverifiable")
    packs = pack_cache.get(names) or pack_cache.setdefault(names, load_packs(names))
    proposal = Proposal(
        at=row.at,
        customer_id=row.customer_id,
        debt_ids=tuple(json.loads(row.debt_ids)),
        channel=row.channel,
        timezones=tzs,
        contact_point=row.contact_point,
        line_type=row.line_type or "unknown",
        campaign=row.campaign,
        autodialed=bool(extra.get("autodialed", row.channel in ("voice", "sms"))),
        agent_guaranteed=bool(extra.get("agent_guaranteed", False)),
    )
    decision = evaluate(packs, histories[row.customer_id].events, proposal)
    if decision.allowed:
        return None
    failed = tuple(
        {"rule": r.rule, "citation": r.citation, "ok": r.ok, "detail": r.detail}
        for r in decision.results
        if not r.ok
    )
    return Finding(*common, failed, "violation")
