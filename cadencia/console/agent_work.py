"""The agent's own work on the desktop: find and open a customer, dial them, preview mode.

* ``GET /agent/search``: customers by id, phone or name (accents folded).
* ``POST /agent/open``: attach a customer without a call, as a screen pop
  would, so the agent can record a promise, a callback or a dispute (a
  customer who writes in, an inbound call from an unknown number). It
  publishes the agent event ``open`` (``campaigns.agents.events``) and writes
  nothing to the ledger: opening a record is not a contact.
* ``POST /agent/dial``: one of the attached customer's phones, under a run's
  campaign. The guard decides here, at once (a refusal shows each rule and
  its citation; a number that is not the customer's is 403, and nothing is
  written or dialed); an allowed call is queued for a dial worker, which
  holds the dialer's AMI rights (``campaigns.dialing.manual``).
* ``POST /agent/preview/next`` and ``/agent/preview/skip``: preview mode
  (``campaigns.dialing.preview``); a previewed customer's call is a dial as above.
* ``POST /agent/release``: let go of a customer opened without a call.

While a customer is open the agent's queue member is paused (reason
``preview``), so the dialer's queue does not put a call through on top of it;
saving the disposition unpauses it, as after any call.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import WebContext, context, role, say
from cadencia.console.desktop import NOT_AN_AGENT, PAUSE_REASONS, back_to_ready, panel_data
from cadencia.console.i18n import Msg, msg
from cadencia.console.pbx import PbxUnavailable, queue_pause
from cadencia.console.security import CurrentUser
from campaigns.agents.events import AgentCall, AgentEvent, agent_call, publish_agent_event
from campaigns.calls.transfer import (
    Mode,
    TransferError,
    TransferRequest,
    consulting,
    request_transfer,
)
from campaigns.dialing import preview
from campaigns.dialing.manual import (
    NotTheCustomersNumber,
    dial_runs,
    enqueue_manual_dial,
    reserve_manual_dial,
)
from campaigns.ledger.outcomes import record_outcome
from campaigns.observability import mask_phone
from campaigns.portfolio.search import search_customers
from campaigns.portfolio.view import CustomerNotFound, customer_360

log = logging.getLogger(__name__)
router = APIRouter()
agent_only = role("agent")


def _agent(user: CurrentUser) -> str:
    if not user.agent_id:
        raise HTTPException(403, NOT_AN_AGENT)
    return user.agent_id


def _to_desktop(request: Request, user: CurrentUser, notice: Msg | str) -> RedirectResponse:
    """Back to the desktop, with ``notice`` in the agent's language."""
    shown = say(request, user, notice)
    return RedirectResponse(f"/agent?{urlencode({'notice': shown})}", status_code=303)


def _int(raw: Any, name: str) -> int | None:
    text = str(raw or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise HTTPException(
            400, msg("%(field)s “%(text)s”: expected a number.", field=name, text=text)
        )
    return int(text)


@router.get("/agent/search", response_class=HTMLResponse)
def search(
    request: Request,
    q: str = "",
    user: CurrentUser = Depends(agent_only),
    ctx: WebContext = Depends(context),
) -> Response:
    """Customers matching ``q`` (id, phone, name), phones masked, each with an Open button."""
    agent = _agent(user)
    hits = search_customers(ctx.engine, q) if q.strip() else []
    call = agent_call(ctx.redis, agent, namespace=ctx.namespace)
    return ctx.render(
        request,
        "agent_search.html",
        user,
        q=q,
        hits=[
            {
                "customer_id": h.customer_id,
                "name": h.name,
                "country": h.country,
                "phones": [mask_phone(p) for p in h.phones],
            }
            for h in hits
        ],
        runs=dial_runs(ctx.engine, ctx.clock().date()),
        call=call,
    )


async def _hold_member(ctx: WebContext, user: CurrentUser) -> None:
    """Pause the agent's queue member while a customer is open (no PBX configured: no queue)."""
    if ctx.ami is None or not user.queue_interface:
        return
    try:
        await queue_pause(ctx.ami, user.queue_interface, paused=True, reason="preview")
    except PbxUnavailable as exc:
        log.error("agent %s: %s", user.agent_id, exc)
        raise HTTPException(
            503,
            msg(
                "Asterisk did not pause you, so nothing was opened. Try again in a minute; if "
                "it lasts, ask your administrator to check Asterisk and the CADENCIA_AMI_* "
                "settings."
            ),
        ) from None


async def _attach(ctx: WebContext, user: CurrentUser, event: AgentEvent) -> None:
    """Pause the member, then publish ``open``: the desktop shows the customer."""
    await _hold_member(ctx, user)
    await run_in_threadpool(publish_agent_event, ctx.redis, event, namespace=ctx.namespace)


def _free(ctx: WebContext, agent: str) -> AgentCall:
    """The agent's state, refusing (409) while another customer is attached."""
    call = agent_call(ctx.redis, agent, namespace=ctx.namespace)
    if call.customer_id:
        raise HTTPException(
            409,
            msg(
                "Customer %(id)s is open: save the disposition or release it first.",
                id=call.customer_id,
            ),
        )
    return call


@router.post("/agent/open")
async def open_customer(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Attach a customer to the agent without a call (nothing goes in the ledger)."""
    agent = _agent(user)
    form = await request.form()
    customer_id = str(form.get("customer_id", "")).strip()
    run_id = _int(form.get("run_id"), "run_id")
    await run_in_threadpool(_free, ctx, agent)
    try:
        await run_in_threadpool(customer_360, ctx.engine, customer_id)
    except CustomerNotFound:
        raise HTTPException(
            404, msg("Customer %(id)s is not in the portfolio.", id=customer_id)
        ) from None
    campaign = None
    if run_id is not None:
        runs = dict(await run_in_threadpool(dial_runs, ctx.engine, ctx.clock().date()))
        if run_id not in runs:
            raise HTTPException(
                400, msg("Run %(run)s is not one of today's open runs.", run=run_id)
            )
        campaign = runs[run_id]
    event = AgentEvent(
        "open", agent, ctx.clock(), customer_id=customer_id, run_id=run_id, campaign=campaign
    )
    await _attach(ctx, user, event)
    log.info("agent %s opened customer %s", agent, customer_id)
    return _to_desktop(request, user, msg("Opened %(id)s", id=customer_id))


@router.post("/agent/release")
async def release(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Let go of a customer opened without a call; a previewed one goes back to the slot."""
    agent = _agent(user)
    call = await run_in_threadpool(agent_call, ctx.redis, agent, namespace=ctx.namespace)
    if not call.customer_id:
        return _to_desktop(request, user, msg("No customer is open"))
    if call.attempt_id is not None:
        raise HTTPException(409, msg("A call was placed: save its disposition."))
    if call.planned_id is not None:
        await run_in_threadpool(preview.give_back, ctx.engine, ctx.redis, call.planned_id)
    await back_to_ready(ctx, user, agent)
    return _to_desktop(request, user, msg("Released %(id)s", id=call.customer_id))


def _dial_run(call: AgentCall, posted: int | None) -> int:
    """The run a dial is made under: a previewed customer's own; else the one chosen."""
    if call.planned_id is not None and call.run_id is not None:
        return call.run_id
    run_id = posted if posted is not None else call.run_id
    if run_id is None:
        raise HTTPException(400, msg("Choose the campaign to call under."))
    return run_id


def _refused(
    request: Request, ctx: WebContext, user: CurrentUser, call: AgentCall, errors: list[str]
) -> Response:
    """The desktop again, with why the call was refused (each rule and its citation)."""
    return ctx.render(
        request,
        "agent.html",
        user,
        status=422,
        call=call,
        panel=panel_data(ctx, call, call.agent),
        reasons=PAUSE_REASONS,
        notice="",
        errors=errors,
    )


@router.post("/agent/dial", response_class=HTMLResponse)
async def dial(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Guard and reserve a call to one of the attached customer's phones, then queue it."""
    agent = _agent(user)
    form = await request.form()
    point_id = _int(form.get("point_id"), "point_id")
    call = await run_in_threadpool(agent_call, ctx.redis, agent, namespace=ctx.namespace)
    if not call.customer_id:
        raise HTTPException(403, msg("Open a customer first: you can only dial the customer open."))
    if call.state == "talking":
        raise HTTPException(409, msg("You are on a call."))
    if point_id is None:
        raise HTTPException(400, msg("Choose one of the customer's numbers."))
    if not user.queue_interface:
        raise HTTPException(
            403,
            msg(
                "This account has no phone (queue interface) to ring: ask an administrator "
                "to set one."
            ),
        )
    run_id = _dial_run(call, _int(form.get("run_id"), "run_id"))
    try:
        reserved = await run_in_threadpool(
            lambda: reserve_manual_dial(
                ctx.engine,
                run_id=run_id,
                customer_id=str(call.customer_id),
                point_id=point_id,
                agent=agent,
                interface=str(user.queue_interface),
                now=ctx.clock(),
                planned_id=call.planned_id,
            )
        )
    except NotTheCustomersNumber as exc:
        log.warning("agent %s refused a dial: %s", agent, exc)
        raise HTTPException(
            403, msg("You can only dial the numbers of the customer open.")
        ) from None
    except LookupError as exc:
        raise HTTPException(400, str(exc)) from None
    if reserved.dial is None:
        errors = [f"{mask_phone(reserved.number)}: {r}" for r in reserved.refusals]
        return await run_in_threadpool(_refused, request, ctx, user, call, errors)
    dial = reserved.dial
    try:
        await run_in_threadpool(enqueue_manual_dial, ctx.redis, ctx.engine, dial)
    except RedisError as exc:
        # Reserved and never sent: say so in the ledger, so the attempt does not
        # stay in flight (and block this customer) for hours.
        why = f"not dialed: the dial queue is unreachable ({type(exc).__name__})"
        now = ctx.clock()
        await run_in_threadpool(
            lambda: record_outcome(
                ctx.engine, dial.attempt_id, "failed", at=now, now=now, extra={"why": why}
            )
        )
        raise HTTPException(
            503,
            msg(
                "The call was not placed: the dial queue (Redis) is unreachable. Try again in a "
                "minute; if it lasts, ask your administrator to check Redis and "
                "CADENCIA_REDIS_URL."
            ),
        ) from None
    log.info("agent %s dials %s (attempt %s)", agent, call.customer_id, dial.attempt_id)
    number = mask_phone(reserved.number)
    return _to_desktop(
        request,
        user,
        msg(
            "Dialing %(number)s (call %(call)s): your phone rings first",
            number=number,
            call=dial.attempt_id,
        ),
    )


@router.post("/agent/transfer")
async def transfer(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Hand the customer on the line to another queue (a supervisor's): the call desk does it.

    ``mode`` blind hands the call over at once; attended (consult) puts the
    customer on hold and calls the queue first, until complete or cancel.
    """
    agent = _agent(user)
    form = await request.form()
    queue = str(form.get("queue") or "")
    mode: Mode = "attended" if form.get("mode") == "attended" else "blind"
    call = await run_in_threadpool(agent_call, ctx.redis, agent, namespace=ctx.namespace)
    if call.state != "talking" or not call.customer_id:
        raise HTTPException(409, msg("There is no call to transfer."))
    await _ask_desk(ctx, TransferRequest(agent, queue, mode, ctx.clock()))
    if mode == "attended":
        return _to_desktop(
            request, user, msg("Calling %(queue)s: the customer is on hold.", queue=queue)
        )
    return _to_desktop(request, user, msg("Transfer to %(queue)s requested.", queue=queue))


@router.post("/agent/transfer/finish")
async def finish_transfer(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """End the agent's consultation: hand the customer over (complete) or take them back."""
    agent = _agent(user)
    complete = (await request.form()).get("action") == "complete"
    queue = await run_in_threadpool(consulting, ctx.redis, agent, namespace=ctx.namespace)
    if queue is None:
        raise HTTPException(409, msg("There is no consultation under way."))
    await _ask_desk(
        ctx, TransferRequest(agent, queue, "complete" if complete else "cancel", ctx.clock())
    )
    if complete:
        return _to_desktop(request, user, msg("Transfer to %(queue)s completed.", queue=queue))
    return _to_desktop(request, user, msg("Back with the customer."))


async def _ask_desk(ctx: WebContext, request_: TransferRequest) -> None:
    """Queue a transfer request for the call desk (400 for a queue not offered)."""
    try:
        await run_in_threadpool(
            request_transfer,
            ctx.redis,
            request_,
            allowed=ctx.transfer_queues,
            namespace=ctx.namespace,
        )
    except TransferError:
        raise HTTPException(400, msg("Choose one of the queues offered.")) from None


@router.post("/agent/preview/next")
async def preview_next(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Take the next customer of a preview campaign's open slot and show them before any call."""
    agent = _agent(user)
    run_id = _int((await request.form()).get("run_id"), "run_id")
    if run_id is None:
        raise HTTPException(400, msg("Choose the preview campaign."))
    await run_in_threadpool(_free, ctx, agent)
    try:
        lead = await run_in_threadpool(
            preview.take_next, ctx.engine, ctx.redis, run_id, ctx.clock()
        )
    except preview.PreviewError as exc:
        return _to_desktop(request, user, str(exc))  # the core's own words (English)
    event = AgentEvent(
        "open",
        agent,
        ctx.clock(),
        customer_id=lead.customer_id,
        run_id=lead.run_id,
        campaign=lead.campaign,
        planned_id=lead.planned_id,
    )
    try:
        await _attach(ctx, user, event)
    except (HTTPException, RedisError):
        await run_in_threadpool(preview.give_back, ctx.engine, ctx.redis, lead.planned_id)
        raise
    return _to_desktop(request, user, msg("Preview: %(id)s. Call or skip", id=lead.customer_id))


@router.post("/agent/preview/skip")
async def preview_skip(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Skip the previewed customer with a reason (kept on the planned contact, not the ledger)."""
    agent = _agent(user)
    form = await request.form()
    call = await run_in_threadpool(agent_call, ctx.redis, agent, namespace=ctx.namespace)
    if call.planned_id is None:
        raise HTTPException(409, msg("There is no previewed customer to skip."))
    if call.attempt_id is not None:
        raise HTTPException(409, msg("This customer was called: save the disposition."))
    try:
        stored = await run_in_threadpool(
            lambda: preview.skip(
                ctx.engine,
                ctx.redis,
                int(str(call.planned_id)),
                agent=agent,
                reason=str(form.get("reason", "")),
                note=str(form.get("note", "") or ""),
            )
        )
    except preview.PreviewError as exc:
        raise HTTPException(400, str(exc)) from None
    await back_to_ready(ctx, user, agent)
    log.info("agent %s: planned contact %s %s", agent, call.planned_id, stored)
    return _to_desktop(request, user, msg("Skipped %(id)s", id=call.customer_id))
