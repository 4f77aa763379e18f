"""The campaign dashboard: today's runs, plan against actual, agents, abandons, promises.

A run's full plan review is on its own page (``runs_pages``).

The page polls ``/dashboard/data.json`` every two seconds and swaps in the
figures and a fresh chart; every figure is computed from the database and
the agent board at request time, so the page is exactly as live as the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cadencia.console.charts import progress_png
from cadencia.console.deps import WebContext, context, language_of, role
from cadencia.console.i18n import money, msg, translations, when
from cadencia.console.labels import label_of
from cadencia.console.security import CurrentUser
from campaigns.agents.events import agent_board
from campaigns.run.report.agents import agent_days
from campaigns.run.report.data import report_data
from campaigns.storage.models import Promise, Run

router = APIRouter()
managers = role("manager")


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def dashboard_data(ctx: WebContext) -> dict[str, Any]:
    """Every figure the dashboard shows, JSON-ready."""
    today = ctx.clock().date()
    start, end = _day_bounds(today)
    with ctx.engine.connect() as conn:
        run_ids = [
            int(r)
            for r in conn.execute(
                sa.select(Run.id).where(Run.day == today).order_by(Run.campaign)
            ).scalars()
        ]
        promise_rows = conn.execute(
            sa.select(Promise.currency, sa.func.count(), sa.func.sum(Promise.amount))
            .where(Promise.created_at >= start, Promise.created_at < end)
            .group_by(Promise.currency)
        ).all()
        effectiveness = agent_days(conn, start, end)
    runs = [_run_figures(ctx, run_id) for run_id in run_ids]
    agents = [
        {
            "agent": a.agent,
            "state": a.state,
            "reason": a.reason,
            "customer": a.customer_id,
            "since": a.at,
        }
        for a in agent_board(ctx.redis, namespace=ctx.namespace)
    ]
    promises = {
        str(cur): {"count": int(n), "amount": str(Decimal(total or 0))}
        for cur, n, total in promise_rows
    }
    return {
        "day": today.isoformat(),
        "runs": runs,
        "agents": agents,
        "promises": promises,
        "agents_by_state": _count_states(agents),
        "effectiveness": effectiveness,
    }


def _run_figures(ctx: WebContext, run_id: int) -> dict[str, Any]:
    """One run's line on the dashboard: plan against actual per channel, outcomes, abandons."""
    data = report_data(ctx.engine, run_id)
    planned = {c: sum(v) for c, v in data["planned_per_slot"].items()}
    actual = {c: sum(v) for c, v in data["actual_per_slot"].items()}
    return {
        "id": run_id,
        "campaign": data["run"]["campaign"],
        "state": data["run"]["state"],
        "planned": planned,
        "actual": actual,
        "outcomes": data["outcomes"],
        "abandon_pct": data["abandon_pct"],
        "abandon_target_pct": data["abandon_target_pct"],
        "over_budget": (
            data["abandon_pct"] is not None and data["abandon_pct"] > data["abandon_target_pct"]
        ),
        "execution": data["execution"],
    }


def _count_states(agents: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for agent in agents:
        counts[agent["state"]] += 1
    return dict(sorted(counts.items()))


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> Response:
    """The dashboard page."""
    return ctx.render(request, "dashboard.html", user, data=dashboard_data(ctx))


@router.get("/dashboard/data.json")
def dashboard_json(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> JSONResponse:
    """The dashboard's figures, for the page's polling, with their texts as the page shows them."""
    data = dashboard_data(ctx)
    language = language_of(request, user)
    catalog = translations(language)

    def text(code: str | None) -> str:
        found = label_of(code)
        return found if isinstance(found, str) else found.translate(catalog)

    for run in data["runs"]:
        run["state_text"] = text(run["state"])
    for agent in data["agents"]:
        agent["state_text"] = text(agent["state"])
        agent["reason_text"] = text(agent["reason"]) if agent["reason"] else ""
        agent["since_text"] = when(agent["since"], user.timezone, language)
    for currency, promised in data["promises"].items():
        promised["amount_text"] = money(promised["amount"], currency, language)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/dashboard/run/{run_id}/progress.png")
def progress(
    run_id: str, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> Response:
    """Plan against actual per channel and hour for one run."""
    # Read as text, so a malformed id is a 404 like an unknown one, not a JSON 422.
    if not (run_id.isascii() and run_id.isdigit() and len(run_id) < 10):
        raise HTTPException(404, msg("“%(raw)s” is not a run id.", raw=run_id))
    try:
        data = report_data(ctx.engine, int(run_id))
    except LookupError:
        raise HTTPException(404, msg("There is no run %(run)s.", run=run_id)) from None
    png = progress_png(
        data["hours"],
        data["planned_per_slot"],
        data["actual_per_slot"],
        f"{data['run']['campaign']} {data['run']['day']}: plan vs actual",
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
