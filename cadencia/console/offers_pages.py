"""Offers at the desktop and the supervisor's approval queue (docs/negotiation.md).

* ``POST /agent/offers`` (agent): a settlement or an instalment plan for the
  customer attached to the agent. Inside the campaign's limits it becomes
  tracked promises at once; beyond them it waits in the queue, each exceeded
  limit named. Amounts are read as the agent's language writes money.
* ``GET /offers`` (manager): the pending requests, oldest first, with the
  customer's debts and what exceeds which limit; the latest decisions.
* ``POST /offers/{id}/approve`` and ``/reject`` (manager; a rejection needs
  a reason, which the agent reads on the desktop). The core admits one
  decision per request (``campaigns.negotiation.requests.decide``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import WebContext, context, language_of, role, say
from cadencia.console.desktop import NOT_AN_AGENT, PAUSE_REASONS, panel_data
from cadencia.console.i18n import LOCALES, msg
from cadencia.console.security import CurrentUser
from campaigns.agents.events import agent_call
from campaigns.negotiation.forms import OfferRefused, parse_ask
from campaigns.negotiation.requests import (
    AlreadyDecided,
    Desk,
    decide,
    decided,
    desk_offers,
    of_agent,
    pending,
    record,
)
from campaigns.negotiation.rules import judge

log = logging.getLogger(__name__)
router = APIRouter()
agent_only = role("agent")
managers = role("manager")


@router.post("/agent/offers", response_class=HTMLResponse)
async def take_offer(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Record the agent's settlement or plan for the attached customer."""
    if not user.agent_id:
        raise HTTPException(403, NOT_AN_AGENT)
    raw = {k: str(v) for k, v in (await request.form()).items()}
    call = await run_in_threadpool(agent_call, ctx.redis, user.agent_id, namespace=ctx.namespace)
    if not call.customer_id or call.customer_id != raw.get("customer_id"):
        raise HTTPException(403, msg("You can only make offers to the customer connected to you."))
    if call.planned_id is not None and call.attempt_id is None:
        raise HTTPException(409, msg("Call a previewed customer before making an offer."))
    now = ctx.clock()
    offers = await run_in_threadpool(desk_offers, ctx.engine, call.customer_id, call.campaign, now)
    if offers is None:
        raise HTTPException(
            409, msg("No campaign's offers apply to %(id)s: no run, or no debt in its currency.",
                     id=call.customer_id))  # fmt: skip
    locale = LOCALES[language_of(request, user)]
    try:
        judged = judge(parse_ask(raw, offers.limits, locale), offers.limits)
    except OfferRefused as exc:
        panel = await run_in_threadpool(panel_data, ctx, call, user.agent_id)
        mine = await run_in_threadpool(of_agent, ctx.engine, user.agent_id)
        return ctx.render(request, "agent.html", user, status=422, call=call, panel=panel,
                          reasons=PAUSE_REASONS, notice="", errors=[], offer_errors=exc.errors,
                          offer_posted=raw, my_requests=mine)  # fmt: skip
    desk = Desk(user.agent_id, user.username, call.attempt_id)
    done = await run_in_threadpool(
        lambda: record(ctx.engine, offers, judged, desk, now=now, nonce=raw.get("nonce", ""))
    )
    if done.request_id is not None:
        notice = msg("Beyond the campaign's limits: request %(id)s waits for a supervisor.",
                     id=done.request_id)  # fmt: skip
    elif done.promise_ids:
        notice = msg("Recorded for %(id)s: %(count)s promises.", id=call.customer_id,
                     count=len(done.promise_ids))  # fmt: skip
    else:  # the same form sent twice
        notice = msg("Already recorded for %(id)s.", id=call.customer_id)
    shown = say(request, user, notice)
    return RedirectResponse(f"/agent?{urlencode({'notice': shown})}", status_code=303)


@router.get("/offers", response_class=HTMLResponse)
def queue(
    request: Request,
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
    notice: str = "",
) -> Response:
    """The supervisor's queue: pending requests oldest first, then the latest decisions."""
    return ctx.render(
        request,
        "offers_queue.html",
        user,
        requests=pending(ctx.engine),
        recent=decided(ctx.engine),
        notice=notice,
        errors=[],
    )


@router.post("/offers/{request_id}/{action}", response_class=HTMLResponse)
async def decide_request(
    request_id: int,
    action: str,
    request: Request,
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Approve or reject one request (a rejection with its reason); one decision counts."""
    if action not in ("approve", "reject"):
        raise HTTPException(404, msg("Approve or reject: nothing else can be done to a request."))
    form = await request.form()
    reason = str(form.get("reason", "") or "")
    try:
        ids = await run_in_threadpool(
            lambda: decide(ctx.engine, request_id, approve=action == "approve",
                           by=user.username, role=user.role, reason=reason, now=ctx.clock())
        )  # fmt: skip
    except AlreadyDecided as exc:
        raise HTTPException(409, exc.errors[0]) from None
    except OfferRefused as exc:
        waiting = await run_in_threadpool(pending, ctx.engine)
        recent = await run_in_threadpool(decided, ctx.engine)
        return ctx.render(request, "offers_queue.html", user, status=422, requests=waiting,
                          recent=recent, notice="", errors=exc.errors)  # fmt: skip
    if action == "approve":
        notice = msg("Request %(id)s approved: %(count)s promises.", id=request_id,
                     count=len(ids))  # fmt: skip
    else:
        notice = msg("Request %(id)s rejected; the agent sees your reason.", id=request_id)
    shown = say(request, user, notice)
    return RedirectResponse(f"/offers?{urlencode({'notice': shown})}", status_code=303)
