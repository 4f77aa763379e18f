"""Compliance pages: a debtor's timeline with the rule decisions, the period audit, CSV.

The timeline shows every ledger event of the customer (attempts folded onto
their outcomes) and every guard decision, including refused contacts that
never became attempts: what the rules said is evidence as much as what happened.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from cadencia.console.charts import histogram_png
from cadencia.console.deps import WebContext, context, role
from cadencia.console.i18n import msg
from cadencia.console.security import CurrentUser
from campaigns.ledger.audit import violations
from campaigns.ledger.audit_frequency import cap_usage
from campaigns.ledger.chain import EVENTS, verify
from campaigns.ledger.history import events_from_rows, folded_rows
from campaigns.storage.models import ContactPoint, Customer, GuardDecisionRow

router = APIRouter()
officers = role("compliance")
TIMELINE_COLUMNS = (
    "at", "event_id", "kind", "channel", "direction", "outcome", "pending", "campaign", "agent",
    "debt_ids", "contact_point", "duration_s", "allowed", "rules",
)  # fmt: skip
LIVE = ("conversation", "abandoned", "wrong_party")


def customer_timeline(ctx: WebContext, customer_id: str) -> list[dict[str, Any]]:
    """Events and guard decisions of one customer, in time order."""
    with ctx.engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.select(EVENTS).where(EVENTS.c.customer_id == customer_id).order_by(EVENTS.c.id)
            )
        )
        decisions = list(
            conn.execute(
                sa.select(GuardDecisionRow)
                .where(GuardDecisionRow.customer_id == customer_id)
                .order_by(GuardDecisionRow.id)
            )
        )
    resolved = {int(r.resolves_id) for r in rows if r.resolves_id is not None}
    by_attempt = {int(d.attempt_id): d for d in decisions if d.attempt_id is not None}
    out: list[dict[str, Any]] = []
    for row, event in folded_rows(rows):
        pending = row.status == "pending" and int(row.id) not in resolved
        decision = by_attempt.get(int(row.id))
        out.append(
            {
                "at": event.at,
                "event_id": int(row.id),
                "kind": event.kind,
                "channel": event.channel,
                "direction": event.direction,
                "outcome": None if pending else event.outcome,
                "pending": pending,
                "campaign": event.campaign,
                "agent": event.agent,
                "debt_ids": ";".join(event.debt_ids),
                "contact_point": event.contact_point,
                "duration_s": event.duration_s,
                "allowed": None if decision is None else bool(decision.allowed),
                "rules": [] if decision is None else json.loads(decision.rules),
            }
        )
    for d in decisions:
        if d.attempt_id is None:  # refused: no attempt was ever made
            out.append(
                {
                    "at": d.decided_at, "event_id": None, "kind": "refused", "channel": d.channel,
                    "direction": "outbound", "outcome": None, "pending": False, "campaign": None,
                    "agent": None, "debt_ids": "", "contact_point": None, "duration_s": None,
                    "allowed": False, "rules": json.loads(d.rules),
                }
            )  # fmt: skip
    out.sort(key=lambda e: (e["at"], e["event_id"] or 0))
    return out


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        cells = dict(row)
        if isinstance(cells.get("at"), dt.datetime):
            cells["at"] = cells["at"].isoformat()
        if isinstance(cells.get("rules"), list):
            cells["rules"] = "; ".join(
                f"{r.get('rule')}={'ok' if r.get('ok') else 'FAIL'}: {r.get('detail', '')}"
                for r in cells["rules"]
            )
        writer.writerow(cells)
    return buffer.getvalue()


def _find(ctx: WebContext, query: str) -> list[Any]:
    like = f"%{query}%"
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(Customer.external_id, Customer.name, Customer.country)
                .where(sa.or_(Customer.external_id == query, Customer.name.ilike(like)))
                .order_by(Customer.external_id)
                .limit(50)
            )
        )


@router.get("/compliance", response_class=HTMLResponse)
def search(
    request: Request,
    q: str = "",
    user: CurrentUser = Depends(officers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Search a customer by id or name."""
    results = _find(ctx, q.strip()) if q.strip() else []
    return ctx.render(request, "compliance_search.html", user, q=q, results=results)


def _customer_or_404(ctx: WebContext, customer_id: str) -> Any:
    with ctx.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                Customer.external_id, Customer.name, Customer.country, Customer.timezones
            ).where(Customer.external_id == customer_id)
        ).first()
    if row is None:
        raise HTTPException(
            404, msg("There is no customer “%(id)s” in the portfolio.", id=customer_id)
        )
    return row


@router.get("/compliance/customer/{customer_id}", response_class=HTMLResponse)
def customer(
    customer_id: str,
    request: Request,
    user: CurrentUser = Depends(officers),
    ctx: WebContext = Depends(context),
) -> Response:
    """The customer's timeline with every rule decision."""
    row = _customer_or_404(ctx, customer_id)
    events = customer_timeline(ctx, customer_id)
    return ctx.render(request, "compliance_customer.html", user, customer=row, events=events)


@router.get("/compliance/customer/{customer_id}/timeline.csv")
def customer_csv(
    customer_id: str, user: CurrentUser = Depends(officers), ctx: WebContext = Depends(context)
) -> Response:
    """The timeline as CSV, for the evidence file."""
    _customer_or_404(ctx, customer_id)
    body = _csv(customer_timeline(ctx, customer_id), TIMELINE_COLUMNS)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="timeline-{customer_id}.csv"'},
    )


def _period(ctx: WebContext, since: str, until: str) -> tuple[dt.datetime, dt.datetime]:
    today = ctx.clock().date()
    try:
        first = dt.date.fromisoformat(since) if since else today - dt.timedelta(days=6)
        last = dt.date.fromisoformat(until) if until else today
    except ValueError:
        raise HTTPException(
            400, msg("The period's days must be dates, written YYYY-MM-DD: pick them again.")
        ) from None
    if last < first:
        raise HTTPException(
            400,
            msg("The period ends (%(last)s) before it starts (%(first)s).", last=last, first=first),
        )
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def abandon_rates(ctx: WebContext, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Abandoned calls over live calls (FCC/Ofcom's denominator), per campaign and UTC day."""
    with ctx.engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.select(EVENTS)
                .where(EVENTS.c.channel == "voice", EVENTS.c.at >= since, EVENTS.c.at < until)
                .order_by(EVENTS.c.id)
            )
        )
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for event in events_from_rows(rows):
        if event.kind == "attempt" and event.outcome in LIVE:
            counts[(event.campaign or "—", event.at.date().isoformat())][event.outcome] += 1
    out = []
    for (campaign, day), c in sorted(counts.items()):
        live = sum(c[o] for o in LIVE)
        out.append(
            {"campaign": campaign, "day": day, "live": live, "abandoned": c["abandoned"],
             "pct": round(100 * c["abandoned"] / live, 2) if live else None}
        )  # fmt: skip
    return out


def opt_outs(ctx: WebContext, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Contact points opted out in the period (STOP, cease letters, the bank's file)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Customer.external_id, ContactPoint.kind, ContactPoint.opted_out_at)
            .join(Customer, Customer.id == ContactPoint.customer_id)
            .where(ContactPoint.opted_out_at >= since, ContactPoint.opted_out_at < until)
            .order_by(ContactPoint.opted_out_at)
        ).all()
    return [{"customer_id": r[0], "kind": r[1], "at": r[2]} for r in rows]


def audit_data(ctx: WebContext, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """Violations, cap usage, abandon rates and opt-outs of the period."""
    checked, findings = violations(ctx.engine, since, until)
    caps = cap_usage(ctx.engine, since, until)
    for cap in caps:
        png = histogram_png(
            cap["histogram"], cap["cap"], f"{cap['rule']} · {cap['campaign']} · {cap['channel']}"
        )
        cap["png"] = base64.b64encode(png).decode("ascii")
    return {
        "since": since,
        "until": until,
        "checked": checked,
        "findings": [f.as_dict() for f in findings],
        "caps": caps,
        "abandon": abandon_rates(ctx, since, until),
        "opt_outs": opt_outs(ctx, since, until),
    }


@router.get("/compliance/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    since: str = "",
    until: str = "",
    user: CurrentUser = Depends(officers),
    ctx: WebContext = Depends(context),
) -> Response:
    """The audit of a period (default: the last seven days)."""
    start, end = _period(ctx, since, until)
    data = audit_data(ctx, start, end)
    return ctx.render(
        request,
        "compliance_audit.html",
        user,
        data=data,
        since=start.date().isoformat(),
        until=(end.date() - dt.timedelta(days=1)).isoformat(),
    )


@router.get("/compliance/audit/findings.csv")
def audit_csv(
    since: str = "",
    until: str = "",
    user: CurrentUser = Depends(officers),
    ctx: WebContext = Depends(context),
) -> Response:
    """The period's findings as CSV (a header only when there are none, as expected)."""
    start, end = _period(ctx, since, until)
    _, findings = violations(ctx.engine, start, end)
    rows = [
        {**f.as_dict(), "packs": ";".join(f.packs), "failed_rules": json.dumps(list(f.failed))}
        for f in findings
    ]
    columns = ("event_id", "at", "customer_id", "channel", "packs", "kind", "failed_rules")
    return Response(
        _csv(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="findings.csv"'},
    )


@router.get("/compliance/ledger", response_class=HTMLResponse)
def ledger(
    request: Request, user: CurrentUser = Depends(officers), ctx: WebContext = Depends(context)
) -> Response:
    """Recompute the whole hash chain now."""
    report = verify(ctx.engine)
    return ctx.render(request, "compliance_ledger.html", user, report=report)
