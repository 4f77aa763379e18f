"""The supervisor's wallboard: the floor right now, per campaign, refreshed every two seconds.

Per campaign with a run today: calls ringing at the debtors' end and
answered calls waiting for an agent (with the longest wait), the leads left
in the dialing slot, today's abandon rate against the campaign's target, and
callbacks overdue or due within the hour. Beside them the inbound queues'
waiting callers and every agent with their state and how long they have
been in it. The live call figures come from the dial sessions and the call
desk (``campaigns.calls.live``); the rest from the database and the agent
board at request time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cadencia.console.deps import WebContext, context, language_of, role
from cadencia.console.i18n import translations
from cadencia.console.labels import label_of
from cadencia.console.security import CurrentUser
from campaigns.agents.events import agent_board
from campaigns.calls.live import LiveQueue, inbound_queues, read_live
from campaigns.run.callback_holds import CALLBACK_OVER
from campaigns.run.report.data import report_data
from campaigns.storage.accounts import Callback
from campaigns.storage.models import CallbackDial, Run

router = APIRouter()
managers = role("manager")
DUE_SOON = dt.timedelta(hours=1)


def wallboard_data(ctx: WebContext) -> dict[str, Any]:
    """Every figure the wallboard shows, JSON-ready."""
    now = ctx.clock()
    with ctx.engine.connect() as conn:
        runs = conn.execute(
            sa.select(Run.id, Run.campaign, Run.state)
            .where(Run.day == now.date())
            .order_by(Run.campaign, Run.id)
        ).all()
        callbacks = _callbacks_due(conn, now)
    live = {q.name: q for q in read_live(ctx.redis, ctx.namespace, "dial", [r[1] for r in runs])}
    campaigns = [
        _campaign_figures(ctx, int(run_id), str(name), str(state), live.get(str(name)), callbacks)
        for run_id, name, state in runs
    ]
    queues = inbound_queues(ctx.redis, ctx.namespace)
    inbound = [_queue_figures(q) for q in read_live(ctx.redis, ctx.namespace, "inbound", queues)]
    agents = [
        {
            "agent": a.agent,
            "state": a.state,
            "reason": a.reason,
            "campaign": a.campaign,
            "seconds_in_state": _seconds_since(a.at, now),
        }
        for a in agent_board(ctx.redis, namespace=ctx.namespace)
    ]
    return {
        "now": now.isoformat(),
        "campaigns": campaigns,
        "inbound": inbound,
        "agents": agents,
        "agents_by_state": dict(sorted(Counter(a["state"] for a in agents).items())),
    }


def _callbacks_due(conn: sa.Connection, now: dt.datetime) -> dict[str, dict[str, int]]:
    """Callbacks not yet dialed, per campaign: overdue, and due within the hour."""
    dials = CallbackDial.__table__
    rows = conn.execute(
        sa.select(Callback.campaign, Callback.at)
        .outerjoin(dials, dials.c.callback_id == Callback.id)
        .where(
            Callback.status == "scheduled",
            Callback.at < now + DUE_SOON,
            sa.or_(dials.c.status.is_(None), dials.c.status.not_in(CALLBACK_OVER)),
        )
    ).all()
    out: dict[str, dict[str, int]] = {}
    for campaign, at in rows:
        figures = out.setdefault(str(campaign), {"overdue": 0, "next_hour": 0})
        figures["overdue" if at < now else "next_hour"] += 1
    return out


def _campaign_figures(
    ctx: WebContext,
    run_id: int,
    campaign: str,
    state: str,
    live: LiveQueue | None,
    callbacks: dict[str, dict[str, int]],
) -> dict[str, Any]:
    data = report_data(ctx.engine, run_id)
    abandon = data["abandon_pct"]
    return {
        "campaign": campaign,
        "run_id": run_id,
        "state": state,
        "dialing": live is not None,
        "ringing": live.ringing if live else 0,
        "waiting": live.waiting if live else 0,
        "longest_wait_s": round(live.longest_wait_s) if live else 0,
        "leads_left": live.leads_left if live else None,
        "abandon_pct": abandon,
        "abandon_target_pct": data["abandon_target_pct"],
        "over_budget": abandon is not None and abandon > data["abandon_target_pct"],
        "callbacks": callbacks.get(campaign, {"overdue": 0, "next_hour": 0}),
    }


def _queue_figures(live: LiveQueue) -> dict[str, Any]:
    return {
        "queue": live.name,
        "waiting": live.waiting,
        "longest_wait_s": round(live.longest_wait_s),
    }


def _seconds_since(at: str | None, now: dt.datetime) -> int | None:
    """Whole seconds from the ISO instant ``at`` to ``now`` (None when unknown)."""
    if not at:
        return None
    try:
        then = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0, int((now - then).total_seconds()))


@router.get("/wallboard", response_class=HTMLResponse)
def wallboard(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> Response:
    """The wallboard page (its script refreshes it from ``/wallboard/data.json``)."""
    return ctx.render(request, "wallboard.html", user, data=wallboard_data(ctx))


@router.get("/wallboard/data.json")
def wallboard_json(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> JSONResponse:
    """The wallboard's figures, with the states' words in the viewer's language."""
    data = wallboard_data(ctx)
    catalog = translations(language_of(request, user))

    def text(code: str | None) -> str:
        found = label_of(code)
        return found if isinstance(found, str) else found.translate(catalog)

    for campaign in data["campaigns"]:
        campaign["state_text"] = text(campaign["state"])
    for agent in data["agents"]:
        agent["state_text"] = text(agent["state"])
        agent["reason_text"] = text(agent["reason"]) if agent["reason"] else ""
    return JSONResponse(data, headers={"Cache-Control": "no-store"})
