"""The campaign manager's workspace: runs by campaign and day, a run's plan review, lookups.

- ``/runs``: runs filtered by campaign and any day (a date picker), with the
  plan's size and the money each experiment arm collected;
- ``/runs/{id}``: the plan review (the run report's figures and charts, in the
  console's layout) and the buttons its state allows: approve, launch,
  resume, cancel. They call ``campaigns.run.actions``, i.e. the state
  functions ``cadencia run`` calls, and each press is recorded with its user;
- ``/customers/lookup``: one customer across recent runs, planned or left out
  and why, with the refusing rules and their citations.

A bad or unknown run id gets an error page in the console's layout, never
raw JSON: run ids are read as text and checked here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cadencia.console.deps import WebContext, context, language_of, role
from cadencia.console.i18n import Msg, msg
from cadencia.console.runs_view import ACTION_BUTTONS, run_review, state_note
from cadencia.console.security import CurrentUser
from campaigns.run.actions import ACTIONS, Actor, allowed_actions, history, perform
from campaigns.run.launch import queued_step
from campaigns.run.listing import campaign_names, list_runs
from campaigns.run.lookup import customer_exists, customer_runs
from campaigns.run.report.data import report_data
from campaigns.run.state import RunError

router = APIRouter()
managers = role("manager")
readers = role("manager", "compliance")  # compliance reads plans, only managers act on them
MAX_RUN_ID = 2**31 - 1  # the runs table's integer key


def _not_found(
    request: Request, ctx: WebContext, user: CurrentUser, message: Msg, status: int = 404
) -> Response:
    return ctx.render(
        request,
        "error.html",
        user,
        status=status,
        title=msg("Not found") if status == 404 else msg("Cannot do that"),
        message=message,
        links=[("/runs", msg("All runs"))],
    )


def _run_id(raw: str) -> int | None:
    """The run id in a URL, or None when it is not one (letters, zero, too large)."""
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_RUN_ID:
        return None
    return int(raw)


def _bad_id(request: Request, ctx: WebContext, user: CurrentUser, raw: str) -> Response:
    return _not_found(
        request,
        ctx,
        user,
        msg(
            "“%(raw)s” is not a run id: run ids are whole numbers, as listed on the Runs page.",
            raw=raw,
        ),
    )


@router.get("/runs", response_class=HTMLResponse)
def runs(
    request: Request,
    campaign: str = "",
    day: str = "",
    user: CurrentUser = Depends(readers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Runs, newest first, of one campaign and/or one day."""
    error: Msg | None = None
    chosen = None
    if day:
        try:
            chosen = dt.date.fromisoformat(day)
        except ValueError:
            error = msg("“%(day)s” is not a date: pick one, or write it as YYYY-MM-DD.", day=day)
    found = list_runs(ctx.engine, campaign=campaign or None, day=chosen)
    today = ctx.clock().date()
    return ctx.render(
        request,
        "runs.html",
        user,
        status=422 if error else 200,
        runs=found,
        campaigns=campaign_names(ctx.engine),
        campaign=campaign,
        day=chosen.isoformat() if chosen else "",
        today=today.isoformat(),
        yesterday=(today - dt.timedelta(days=1)).isoformat(),
        error=error or "",
    )


@router.get("/runs/{raw_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    raw_id: str,
    done: str = "",
    user: CurrentUser = Depends(readers),
    ctx: WebContext = Depends(context),
) -> Response:
    """One run: its plan review, the actions its state allows, who did what."""
    run_id = _run_id(raw_id)
    if run_id is None:
        return _bad_id(request, ctx, user, raw_id)
    return _render_run(request, ctx, user, run_id, done=done)


def _render_run(
    request: Request,
    ctx: WebContext,
    user: CurrentUser,
    run_id: int,
    *,
    done: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    try:
        data = report_data(ctx.engine, run_id)
    except LookupError:
        return _not_found(request, ctx, user, msg("There is no run %(run)s.", run=run_id))
    state = data["run"]["state"]
    can_act = user.role in ("manager", "admin")
    actions = history(ctx.engine, run_id)
    last = actions[-1] if actions and done in ACTIONS and actions[-1]["action"] == done else None
    return ctx.render(
        request,
        "run.html",
        user,
        status=status,
        run=data["run"],
        review=run_review(data, language_of(request, user)),
        buttons=ACTION_BUTTONS,
        state_note=state_note(state),
        actions=allowed_actions(state) if can_act else (),
        history=actions,
        last=last,
        error=error,
    )


@router.get("/runs/{raw_id}/report")
def run_report(
    request: Request,
    raw_id: str,
    user: CurrentUser = Depends(readers),
    ctx: WebContext = Depends(context),
) -> Response:
    """The old address of a run's report: the run page shows it now."""
    run_id = _run_id(raw_id)
    if run_id is None:
        return _bad_id(request, ctx, user, raw_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{raw_id}/{action}", response_class=HTMLResponse)
def act(
    request: Request,
    raw_id: str,
    action: str,
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Approve, launch, resume or cancel the run (CSRF checked by the role dependency)."""
    run_id = _run_id(raw_id)
    if run_id is None:
        return _bad_id(request, ctx, user, raw_id)
    if action not in ACTIONS:
        return _not_found(
            request, ctx, user, msg("“%(action)s” is not something a run can do.", action=action)
        )
    try:
        perform(
            ctx.engine,
            run_id,
            action,
            actor=Actor(user.id, user.username, user.role),
            now=ctx.clock(),
            dispatch=queued_step(ctx.redis),
        )
    except RunError as exc:
        if "does not exist" in str(exc):
            return _not_found(request, ctx, user, msg("There is no run %(run)s.", run=run_id))
        return _render_run(request, ctx, user, run_id, error=str(exc), status=409)
    return RedirectResponse(f"/runs/{run_id}?done={action}", status_code=303)


@router.get("/customers/lookup", response_class=HTMLResponse)
def lookup(
    request: Request,
    customer_id: str = "",
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
) -> Response:
    """A customer in recent runs: planned (channel, hour) or left out, and why."""
    wanted = customer_id.strip()[:64]
    found: list[dict[str, Any]] = []
    error: Msg | str = ""
    if wanted:
        if customer_exists(ctx.engine, wanted):
            found = customer_runs(ctx.engine, wanted)
        else:
            error = msg(
                "No customer “%(id)s” in the portfolio (ids are the creditor's own).", id=wanted
            )
    return ctx.render(
        request,
        "customer_lookup.html",
        user,
        status=404 if error else 200,
        customer_id=wanted,
        runs=found,
        error=error,
    )
