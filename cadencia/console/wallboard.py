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
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import WebContext, context, language_of, role
from cadencia.console.i18n import msg, translations
from cadencia.console.labels import label_of
from cadencia.console.security import CurrentUser
from campaigns.agents.events import agent_board, agent_call
from campaigns.calls.live import LiveQueue, inbound_queues, read_live
from campaigns.calls.supervision import (
    MODES,
    Mode,
    SupervisionRequest,
    request_supervision,
)
from campaigns.dialing.job import abandon_history
from campaigns.run.callback_holds import CALLBACK_OVER
from campaigns.run.stored import campaign_of
from campaigns.storage.accounts import AdminAction, Callback
from campaigns.storage.models import CallbackDial, Run

router = APIRouter()
managers = role("manager")
DUE_SOON = dt.timedelta(hours=1)
SUPERVISION_WORDS = {"listen": msg("listen"), "whisper": msg("whisper"), "barge": msg("barge in")}


def wallboard_data(ctx: WebContext) -> dict[str, Any]:
    """Every figure the wallboard shows, JSON-ready."""
    now = ctx.clock()
    with Session(ctx.engine) as db:
        runs = list(
            db.scalars(sa.select(Run).where(Run.day == now.date()).order_by(Run.campaign, Run.id))
        )
        db.expunge_all()
    with ctx.engine.connect() as conn:
        callbacks = _callbacks_due(conn, now)
    live = {
        q.name: q for q in read_live(ctx.redis, ctx.namespace, "dial", [r.campaign for r in runs])
    }
    campaigns = [
        _campaign_figures(ctx, run, live.get(run.campaign), callbacks, now) for run in runs
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
    run: Run,
    live: LiveQueue | None,
    callbacks: dict[str, dict[str, int]],
    now: dt.datetime,
) -> dict[str, Any]:
    campaign = campaign_of(run)
    # The same count the pacer's abandon budget reads: today, in the campaign's time zone.
    local_today = now.astimezone(ZoneInfo(campaign.timezone)).date()
    today = abandon_history(ctx.engine, campaign, local_today, 0).get(local_today)
    abandon = round(100 * today.abandoned / today.live, 2) if today and today.live else None
    target = 100 * campaign.dialer.abandon_target
    return {
        "campaign": run.campaign,
        "run_id": run.id,
        "state": run.state,
        "dialing": live is not None,
        "ringing": live.ringing if live else 0,
        "waiting": live.waiting if live else 0,
        "longest_wait_s": round(live.longest_wait_s) if live else 0,
        "leads_left": live.leads_left if live else None,
        "abandon_pct": abandon,
        "abandon_target_pct": target,
        "over_budget": abandon is not None and abandon > target,
        "callbacks": callbacks.get(run.campaign, {"overdue": 0, "next_hour": 0}),
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
    request: Request,
    supervising: str | None = None,
    mode: str | None = None,
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
) -> Response:
    """The wallboard page (its script refreshes it from ``/wallboard/data.json``)."""
    data = wallboard_data(ctx)
    notice = None
    if supervising and mode in MODES:
        notice = msg(
            "Your phone rings: answer it to %(mode)s on %(agent)s's call.",
            mode=SUPERVISION_WORDS[mode],
            agent=supervising,
        )
    return ctx.render(
        request, "wallboard.html", user, data=data, notice=notice, modes=SUPERVISION_WORDS
    )


@router.post("/wallboard/supervise")
async def supervise(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> Response:
    """Listen to, whisper to or barge into an agent's call from the supervisor's own phone.

    Recorded in the admin log (who, on whom, how) before the call desk is asked.
    """
    form = await request.form()
    agent, mode = str(form.get("agent") or ""), str(form.get("mode") or "")
    if mode not in MODES:
        raise HTTPException(400, msg("Choose listen, whisper or barge."))
    if not user.queue_interface:
        raise HTTPException(
            409, msg("No phone is set for your account: an admin sets it, then you can listen.")
        )
    call = await run_in_threadpool(agent_call, ctx.redis, agent, namespace=ctx.namespace)
    if call.state != "talking":
        raise HTTPException(409, msg("%(agent)s is not on a call now.", agent=agent or "?"))
    chosen = cast(Mode, mode)
    asked = SupervisionRequest(user.username, user.queue_interface, agent, chosen, ctx.clock())
    await run_in_threadpool(_record, ctx, asked)
    await run_in_threadpool(request_supervision, ctx.redis, asked, namespace=ctx.namespace)
    return RedirectResponse(f"/wallboard?supervising={agent}&mode={mode}", status_code=303)


def _record(ctx: WebContext, asked: SupervisionRequest) -> None:
    """The admin log's line: compliance sees who listened to whom, and how."""
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.insert(AdminAction).values(
                at=asked.at,
                actor=asked.supervisor,
                action=f"call_{asked.mode}",
                target=asked.agent,
                detail=f"from {asked.phone}"[:200],
            )
        )


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
