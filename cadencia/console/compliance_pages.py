"""Compliance pages: a debtor's timeline with the rule decisions, the period audit, CSV.

The timeline shows every ledger row of the customer as its own line, in time
order (an attempt written ``pending``, then each outcome that followed: sent,
delivered, replied, with what the customer wrote), and every guard decision,
including refused contacts that never became attempts: what the rules said is
evidence as much as what happened. Beside it, the customer in the recent
plans: planned, or left out with the stored reason and, when the rules
blocked them, the rules and their citations (``campaigns.run.lookup``).

The search folds accents and case (``customers.name_folded``, migration
0017), matches ids in part, takes ``%`` and ``_`` literally, and pages its
results. Abandon rates are counted per campaign-local day, as the dialer's
abandon budget counts them.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cadencia.console.charts import histogram_png
from cadencia.console.deps import WebContext, context, role
from cadencia.console.i18n import msg, zone_or_default
from cadencia.console.recordings import customer_recordings, store_of
from cadencia.console.security import CurrentUser
from campaigns.ledger import verification
from campaigns.ledger.audit import violations
from campaigns.ledger.audit_frequency import cap_usage
from campaigns.ledger.chain import EVENTS
from campaigns.observability import mask_email, mask_phone, mask_pii
from campaigns.portfolio.search import MAX_QUERY, fold
from campaigns.run.lookup import customer_runs
from campaigns.run.stored import campaign_of
from campaigns.storage.models import ContactPoint, Customer, GuardDecisionRow, Run

router = APIRouter()
officers = role("compliance")
TIMELINE_COLUMNS = (
    "at", "event_id", "kind", "channel", "direction", "outcome", "pending", "campaign", "agent",
    "debt_ids", "contact_point", "duration_s", "allowed", "rules", "status", "resolves_id",
    "text",
)  # fmt: skip
LIVE = ("conversation", "abandoned", "wrong_party")
PAGE_SIZE = 50


def _masked_point(value: str | None) -> str:
    """A contact point as the console shows one: enough to tell apart, not to use."""
    if not value:
        return ""
    return mask_email(value) if "@" in value else mask_phone(value)


def _event_line(row: Any, decision: Any, resolved: set[int]) -> dict[str, Any]:
    """One ledger row as a timeline line, with the guard's decision on its attempt."""
    extra = json.loads(row.extra) if row.extra else {}
    text = extra.get("text") if row.direction == "inbound" or row.outcome == "replied" else None
    return {
        "at": row.at,
        "event_id": int(row.id),
        "resolves_id": None if row.resolves_id is None else int(row.resolves_id),
        "kind": row.kind,
        "status": row.status,
        "channel": row.channel,
        "direction": row.direction,
        "outcome": row.outcome,
        # an attempt still waiting for its outcome (no later row resolves it)
        "pending": row.status == "pending" and int(row.id) not in resolved,
        "campaign": row.campaign,
        "agent": row.agent,
        "debt_ids": ";".join(json.loads(row.debt_ids or "[]")),
        "contact_point": row.contact_point,
        "contact_masked": _masked_point(row.contact_point),
        "duration_s": row.duration_s,
        "text": text,
        "text_masked": mask_pii(text) if text else None,
        "reason": extra.get("reason"),
        "allowed": None if decision is None else bool(decision.allowed),
        "rules": [] if decision is None else json.loads(decision.rules),
    }


def _refusal_line(d: Any) -> dict[str, Any]:
    """A guard decision that refused a contact: no attempt was ever made."""
    return {
        "at": d.decided_at, "event_id": None, "resolves_id": None, "kind": "refused",
        "status": None, "channel": d.channel, "direction": "outbound", "outcome": None,
        "pending": False, "campaign": None, "agent": None, "debt_ids": "", "contact_point": None,
        "contact_masked": "", "duration_s": None, "text": None, "text_masked": None,
        "reason": None, "allowed": False, "rules": json.loads(d.rules),
    }  # fmt: skip


def customer_timeline(ctx: WebContext, customer_id: str) -> list[dict[str, Any]]:
    """One line per ledger row of the customer, and each refused contact, in time order."""
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
    out = [_event_line(row, by_attempt.get(int(row.id)), resolved) for row in rows]
    out.extend(_refusal_line(d) for d in decisions if d.attempt_id is None)
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


def _like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``\\`` as escape: ``%`` and ``_`` match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class SearchPage:
    """One page of a customer search: the hits, their count and where this page is."""

    hits: list[Any]
    total: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        """The 1-based position of this page's first hit (0 when none)."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.hits else 0

    @property
    def last(self) -> int:
        """The 1-based position of this page's last hit."""
        return (self.page - 1) * PAGE_SIZE + len(self.hits)


def _matches(query: str) -> ColumnElement[bool]:
    """Customers whose id contains ``query`` or whose folded name holds every word typed."""
    text = fold(query)
    escaped = _like_literal(text)
    by_id = sa.func.lower(Customer.external_id).like(f"%{escaped}%", escape="\\")
    words = [w for w in text.split() if w]
    by_name = sa.and_(
        *(Customer.name_folded.like(f"%{_like_literal(w)}%", escape="\\") for w in words)
    )
    return sa.or_(by_id, by_name) if words else by_id


def find_customers(engine: Engine, query: str, page: int = 1) -> SearchPage:
    """Page ``page`` of the customers matching ``query`` (id in part, or name; accents folded).

    The exact id first, then by id; ``PAGE_SIZE`` a page, with the total count.
    """
    text = query.strip()[:MAX_QUERY]
    if not text:
        return SearchPage([], 0, 1, 0)
    where = _matches(text)
    with engine.connect() as conn:
        total = int(conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, page), pages)
        hits = list(
            conn.execute(
                sa.select(Customer.external_id, Customer.name, Customer.country)
                .where(where)
                .order_by(sa.case((Customer.external_id == text, 0), else_=1), Customer.external_id)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
    return SearchPage(hits, total, page, pages)


@router.get("/compliance", response_class=HTMLResponse)
def search(
    request: Request,
    q: str = "",
    page: int = 1,
    user: CurrentUser = Depends(officers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Search a customer by id (or part of it) or name, a page of ``PAGE_SIZE`` at a time."""
    found = find_customers(ctx.engine, q, page) if q.strip() else None
    return ctx.render(request, "compliance_search.html", user, q=q, found=found)


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
    """The customer's timeline (one line per ledger row, every rule decision) and plans.

    The plans say, for each recent run that considered the customer, what was
    planned or why they were left out, with the rules and citations when the
    contact rules blocked them. The customer's call recordings are listed with
    the state of their file; compliance officers play them (``recordings``).
    """
    row = _customer_or_404(ctx, customer_id)
    events = customer_timeline(ctx, customer_id)
    plans = customer_runs(ctx.engine, customer_id)
    left_out = next((p for p in plans if not p["planned"]), None)
    return ctx.render(
        request,
        "compliance_customer.html",
        user,
        customer=row,
        events=events,
        plans=plans,
        left_out=left_out,
        # each recording's file checked against its SHA-256 (missing, altered, deleted)
        recordings=customer_recordings(ctx, store_of(request), customer_id),
    )


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


def campaign_zones(engine: Engine, campaigns: set[str]) -> dict[str, str]:
    """Each campaign's time zone, from its latest run's stored file (unknown: absent)."""
    if not campaigns:
        return {}
    latest = (
        sa.select(sa.func.max(Run.id))
        .where(Run.campaign.in_(sorted(campaigns)))
        .group_by(Run.campaign)
    )
    with Session(engine) as session:
        runs = session.scalars(sa.select(Run).where(Run.id.in_(latest))).all()
        return {run.campaign: campaign_of(run).timezone for run in runs}


def _voice_outcomes(ctx: WebContext, since: dt.datetime, until: dt.datetime) -> list[Any]:
    """(campaign, at, outcome) of the outbound calls made in the period, settled ones only.

    A call still ringing (``pending``, nothing resolves it) is neither live nor abandoned
    yet; an inbound caller who hung up waiting is no abandoned call of ours.
    """
    with ctx.engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.select(EVENTS)
                .where(EVENTS.c.channel == "voice", EVENTS.c.at >= since, EVENTS.c.at < until)
                .order_by(EVENTS.c.id)
            )
        )
    attempts = {
        int(r.id): r
        for r in rows
        if r.kind == "attempt" and r.resolves_id is None and r.direction == "outbound"
    }
    outcome = {i: (r.outcome if r.status == "final" else None) for i, r in attempts.items()}
    for r in rows:
        if r.resolves_id is not None and int(r.resolves_id) in attempts and r.outcome:
            outcome[int(r.resolves_id)] = r.outcome  # rows in id order: the latest wins
    return [(r.campaign or "—", r.at, outcome[i]) for i, r in attempts.items() if outcome[i]]


def abandon_rates(ctx: WebContext, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Abandoned calls over live calls (FCC/Ofcom's denominator), per campaign and local day.

    A call's day is the campaign's local day (its zone from its latest run), as the
    dialer's abandon budget counts it: an evening call in Bogotá is that day's, not
    the next UTC day's. ``since``/``until`` are the period's UTC midnights; the
    period's days are taken in each campaign's zone.
    """
    first, last = since.date(), (until - dt.timedelta(days=1)).date()
    calls = _voice_outcomes(ctx, since - dt.timedelta(days=1), until + dt.timedelta(days=1))
    zones = campaign_zones(ctx.engine, {campaign for campaign, _, _ in calls})
    counts: dict[tuple[str, dt.date], Counter[str]] = defaultdict(Counter)
    for campaign, at, outcome in calls:
        local = at.astimezone(zone_or_default(zones.get(campaign))).date()
        if outcome in LIVE and first <= local <= last:
            counts[(campaign, local)][outcome] += 1
    out = []
    for (campaign, day), c in sorted(counts.items()):
        live = sum(c[o] for o in LIVE)
        out.append(
            {"campaign": campaign, "day": day.isoformat(), "live": live,
             "abandoned": c["abandoned"], "zone": zones.get(campaign, "UTC"),
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
    """The newest recorded check of the hash chain, and a button to ask for another.

    Nothing is recomputed here: a worker runs each check (``campaigns.ledger.verification``).
    """
    checks = verification.status(ctx.engine)
    return ctx.render(
        request, "compliance_ledger.html", user, last=checks.last, waiting=checks.waiting
    )


@router.post("/compliance/ledger/verify", response_class=HTMLResponse)
def ledger_verify(
    request: Request, user: CurrentUser = Depends(officers), ctx: WebContext = Depends(context)
) -> Response:
    """Queue a check of the whole chain for a worker (CSRF checked by the role dependency)."""
    from fastapi.responses import RedirectResponse
    from redis import RedisError

    from campaigns.queues import rq_queue

    try:
        verification.enqueue_check(
            ctx.engine,
            rq_queue(verification.QUEUE, ctx.redis),
            source="console",
            by=user.username,
            now=ctx.clock(),
        )
    except RedisError:
        checks = verification.status(ctx.engine)
        error = msg("The check could not be queued (Redis is unreachable): try again later.")
        return ctx.render(
            request, "compliance_ledger.html", user, status=503,
            last=checks.last, waiting=checks.waiting, error=error,
        )  # fmt: skip
    return RedirectResponse("/compliance/ledger", status_code=303)
