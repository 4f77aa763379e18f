"""The agent desktop: ready/pause, the screen pop by server-sent events, the disposition.

Scope: an agent sees the customer currently attached to them (from a call's
connect, or from opening the record in ``agent_work``, until their disposition
is saved) and their own dispositions, nothing else. The attachment lives in
Redis (``campaigns.agents.events``), written by whoever placed the call or by
the console's open, so the check cannot be talked round from the browser.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import COOKIE, WebContext, context, role, say
from cadencia.console.i18n import msg
from cadencia.console.labels import label_of
from cadencia.console.pbx import PbxUnavailable, queue_pause
from cadencia.console.scripts import script_for
from cadencia.console.security import CurrentUser, session_user
from campaigns.agents.disposition import (
    DispositionError,
    check_callback,
    parse_form,
    save_disposition,
)
from campaigns.agents.events import AgentCall, AgentEvent, agent_call, end_wrap, publish_agent_event
from campaigns.amounts import EXAMPLE, locale_of, written
from campaigns.calls.transfer import consulting
from campaigns.dialing import preview
from campaigns.dialing.manual import customer_phones, dial_runs
from campaigns.ledger.audit import timeline
from campaigns.negotiation.requests import decided_ids, desk_offers, of_agent
from campaigns.observability import mask_email, mask_phone, user_ref
from campaigns.portfolio.view import CustomerNotFound, customer_360
from campaigns.recordings.pause import paused_until
from campaigns.storage.accounts import Callback, Disposition
from campaigns.storage.models import Customer

log = logging.getLogger(__name__)
router = APIRouter()
agent_only = role("agent")
PAUSE_REASONS = ("break", "lunch", "training", "meeting", "technical")
HEARTBEAT_S = 15.0
NOT_AN_AGENT = msg(
    "This account is not bound to a queue member: ask an administrator to give it an agent id."
)
NO_PBX = msg(
    "No Asterisk manager is configured, so Ready and Pause cannot reach your queue. Ask your "
    "administrator to set CADENCIA_AMI_HOST, CADENCIA_AMI_USERNAME and CADENCIA_AMI_SECRET "
    "(and CADENCIA_AMI_PORT if it is not 5038) and restart the console."
)


def _agent(user: CurrentUser) -> str:
    if not user.agent_id:
        raise HTTPException(403, NOT_AN_AGENT)
    return user.agent_id


def _current(ctx: WebContext, user: CurrentUser) -> AgentCall:
    return agent_call(ctx.redis, _agent(user), namespace=ctx.namespace)


def panel_data(ctx: WebContext, call: AgentCall, agent: str) -> dict[str, Any] | None:
    """Everything the screen pop shows for the agent's attached customer (None: no call)."""
    if not call.customer_id:
        return None
    try:
        view = customer_360(ctx.engine, call.customer_id)
    except CustomerNotFound:
        return {"missing": call.customer_id, "call": call}
    for point in view["contact_points"]:
        point["masked"] = (
            mask_phone(point["value"]) if point["kind"] == "phone" else mask_email(point["value"])
        )
    history = timeline(ctx.engine, call.customer_id)
    language, script = script_for(view, agent)
    zone = ZoneInfo((view.get("timezones") or ["UTC"])[0])
    return {
        "call": call,
        "view": view,
        "history": list(reversed(history))[:50],
        "open_promises": [p for p in view["promises"] if p["status"] == "pending"],
        "script": script,
        "language": language,
        "today": ctx.clock().astimezone(zone).date().isoformat(),
        # The earliest callback the form offers: now, on the customer's clock.
        "now_local": ctx.clock().astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        # How the customer's country writes an amount (what the form reads).
        "amount_example": written(EXAMPLE, locale_of(view.get("language"), view.get("country"))),
        # The queue the agent consults in an attended transfer under way (the call desk says).
        "consulting": consulting(ctx.redis, agent, namespace=ctx.namespace),
        # When the call's paused recording resumes by itself (PCI pause; the call desk says).
        "recording_paused": paused_until(ctx.redis, agent, namespace=ctx.namespace),
        # What the customer qualifies for, and the limits (docs/negotiation.md).
        "offers": desk_offers(ctx.engine, call.customer_id, call.campaign, ctx.clock()),
        "offer_nonce": uuid.uuid4().hex,  # a double submit of the offer form takes it once
        **_dial_data(ctx, call),
    }


def _dial_data(ctx: WebContext, call: AgentCall) -> dict[str, Any]:
    """What the dial buttons need: the customer's phones (masked), the runs to call under.

    A previewed customer (``planned_id``) not yet called must be called or
    skipped: no disposition before that.
    """
    assert call.customer_id is not None
    phones = [
        {"point_id": p.point_id, "masked": mask_phone(p.value), "refusal": p.refusal}
        for p in customer_phones(ctx.engine, call.customer_id)
    ]
    previewing = call.planned_id is not None and call.attempt_id is None
    return {
        "phones": phones,
        "runs": [] if call.planned_id is not None else dial_runs(ctx.engine, ctx.clock().date()),
        "previewing": previewing,
        "skip_reasons": preview.SKIP_REASONS if previewing else (),
    }


@router.get("/agent", response_class=HTMLResponse)
def desktop(
    request: Request,
    user: CurrentUser = Depends(agent_only),
    ctx: WebContext = Depends(context),
    notice: str = "",
) -> Response:
    """The desktop page, with the attached customer already shown if there is one."""
    call = _current(ctx, user)
    return ctx.render(
        request,
        "agent.html",
        user,
        call=call,
        panel=panel_data(ctx, call, _agent(user)),
        reasons=PAUSE_REASONS,
        notice=notice,
        errors=[],
        preview_runs=[]
        if call.customer_id
        else preview.preview_runs(ctx.engine, ctx.clock().date()),
        my_requests=of_agent(ctx.engine, _agent(user)),
    )


@router.get("/agent/panel", response_class=HTMLResponse)
def panel(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """The screen-pop fragment the page fetches when an event arrives."""
    call = _current(ctx, user)
    return ctx.render(
        request,
        "_panel.html",
        user,
        call=call,
        panel=panel_data(ctx, call, _agent(user)),
        errors=[],
    )


@router.get("/agent/events")
async def events(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> StreamingResponse:
    """Server-sent events: this agent's connects, completes and state changes."""
    agent = _agent(user)
    queue = ctx.hub.listen(agent)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 1000\n: connected\n\n"
            decided = await run_in_threadpool(decided_ids, ctx.engine, agent)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    # An open desktop is an agent at work (it keeps the session
                    # from idling out); a session revoked or expired ends the
                    # stream, and the page goes to the login.
                    if not await run_in_threadpool(_still_signed_in, ctx, request):
                        yield b"event: logout\ndata: {}\n\n"
                        return
                    # A supervisor's decision on the agent's offers, since the last look.
                    now_decided = await run_in_threadpool(decided_ids, ctx.engine, agent)
                    for rid in sorted(now_decided.keys() - decided.keys()):
                        doc = {"request": rid, "status": now_decided[rid]}
                        yield f"event: offer\ndata: {json.dumps(doc)}\n\n".encode()
                    decided = now_decided
                    yield b": heartbeat\n\n"
                    continue
                doc = {"type": event.type, "state": event.state, "at": event.at.isoformat()}
                yield f"event: agent\ndata: {json.dumps(doc)}\n\n".encode()
        finally:
            ctx.hub.forget(agent, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _still_signed_in(ctx: WebContext, request: Request) -> bool:
    """The session behind the event stream is still live (and is marked used)."""
    token = request.cookies.get(COOKIE)
    return session_user(ctx.engine, token, now=ctx.clock(), idle=ctx.idle_timeout) is not None


@router.post("/agent/state")
async def set_state(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """Ready or pause (with a reason): QueuePause in Asterisk first, then the agent board."""
    form = await request.form()
    action, reason = str(form.get("action", "")), str(form.get("reason", "") or "")
    agent = _agent(user)
    call = await run_in_threadpool(_current, ctx, user)
    if action not in ("ready", "pause"):
        raise HTTPException(
            400, msg("Press Ready or Pause (the form sent neither): expected ready or pause.")
        )
    if action == "pause" and reason not in PAUSE_REASONS:
        raise HTTPException(400, msg("Choose why you pause from the list, then press Pause."))
    if action == "ready" and call.customer_id:
        notice = say(request, user, msg("Save the disposition first: wrap-up ends there"))
        return RedirectResponse(f"/agent?{urlencode({'notice': notice})}", status_code=303)
    if ctx.ami is None or not user.queue_interface:
        raise HTTPException(503, NO_PBX)
    # PbxUnavailable reaches the app's handler: a page that says what to do.
    await queue_pause(
        ctx.ami, user.queue_interface, paused=action == "pause", reason=reason or None
    )
    event = AgentEvent(
        "state",
        agent,
        ctx.clock(),
        state="ready" if action == "ready" else "paused",
        reason=reason if action == "pause" else None,
    )
    await run_in_threadpool(publish_agent_event, ctx.redis, event, namespace=ctx.namespace)
    return RedirectResponse("/agent", status_code=303)


def _own_customer(ctx: WebContext, user: CurrentUser, customer_id: str) -> AgentCall:
    call = _current(ctx, user)
    if call.customer_id != customer_id:
        log.warning(
            "agent %s refused customer %s: not connected to them",
            user_ref(user.username),
            customer_id,
        )
        raise HTTPException(403, msg("You can only open the customer connected to you."))
    return call


@router.get("/agent/customer/{customer_id}", response_class=HTMLResponse)
def customer_page(
    customer_id: str,
    request: Request,
    user: CurrentUser = Depends(agent_only),
    ctx: WebContext = Depends(context),
) -> Response:
    """The attached customer on a page of its own; any other customer is 403."""
    call = _own_customer(ctx, user, customer_id)
    return ctx.render(
        request,
        "agent.html",
        user,
        call=call,
        panel=panel_data(ctx, call, _agent(user)),
        reasons=PAUSE_REASONS,
        notice="",
        errors=[],
        my_requests=of_agent(ctx.engine, _agent(user)),
    )


@router.post("/agent/customer/{customer_id}/disposition", response_class=HTMLResponse)
async def disposition(
    customer_id: str,
    request: Request,
    user: CurrentUser = Depends(agent_only),
    ctx: WebContext = Depends(context),
) -> Response:
    """Validate and save the disposition; then the agent is ready again (wrap-up over)."""
    call = await run_in_threadpool(_own_customer, ctx, user, customer_id)
    if call.planned_id is not None and call.attempt_id is None:
        raise HTTPException(409, msg("Call or skip a previewed customer before the disposition."))
    raw = {k: str(v) for k, v in (await request.form()).items()}
    now = ctx.clock()
    panel = await run_in_threadpool(panel_data, ctx, call, _agent(user))
    if panel is None or "view" not in panel:
        raise HTTPException(404, msg("Customer %(id)s is not in the portfolio.", id=customer_id))
    try:
        form = parse_form(raw, panel["view"], now=now)
        decision = None
        if form.result == "callback":
            assert form.callback_at is not None
            decision = await run_in_threadpool(check_callback, ctx.engine, call, form.callback_at)
            if not decision.allowed:
                refused = [r for r in decision.results if not r.ok]
                raise DispositionError(
                    [
                        msg(
                            "callback_at: refused by %(rule)s (%(citation)s): %(detail)s",
                            rule=r.rule,
                            citation=r.citation,
                            detail=r.detail,
                        )
                        for r in refused
                    ]
                )
        await run_in_threadpool(
            save_disposition, ctx.engine, call, form, now=now, callback_decision=decision
        )
    except DispositionError as exc:
        return ctx.render(
            request,
            "agent.html",
            user,
            status=422,
            call=call,
            panel=panel,
            reasons=PAUSE_REASONS,
            notice="",
            errors=exc.errors,
            posted=raw,
        )
    log.info("agent %s saved %s/%s for %s", call.agent, form.party, form.result, customer_id)
    if call.planned_id is not None:  # the previewed lead is done for its slot
        await run_in_threadpool(preview.finish, ctx.engine, ctx.redis, call.planned_id)
    shown = say(request, user, label_of(form.result if form.party == "right" else form.party))
    saved = msg("Saved: %(what)s for %(id)s", what=shown, id=customer_id)
    if not await back_to_ready(ctx, user, call.agent):
        saved = msg(
            "Saved: %(what)s for %(id)s. Asterisk did not unpause you: press Ready again.",
            what=shown,
            id=customer_id,
        )
    notice = say(request, user, saved)
    return RedirectResponse(f"/agent?{urlencode({'notice': notice})}", status_code=303)


async def back_to_ready(ctx: WebContext, user: CurrentUser, agent: str) -> bool:
    """Detach the customer and unpause the member; False if Asterisk refused (paused, technical)."""
    state, reason = "ready", None
    if ctx.ami is not None and user.queue_interface:
        try:
            await queue_pause(ctx.ami, user.queue_interface, paused=False)
        except PbxUnavailable as exc:
            log.error("agent %s: %s", agent, exc)
            state, reason = "paused", "technical"
    now = ctx.clock()
    await run_in_threadpool(
        lambda: end_wrap(
            ctx.redis, agent, state=state, now=now, reason=reason, namespace=ctx.namespace
        )
    )
    return state == "ready"


@router.get("/agent/history", response_class=HTMLResponse)
def history(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """The agent's own dispositions, newest first, and the callbacks they scheduled."""
    agent = _agent(user)
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Disposition)
            .where(Disposition.agent == agent)
            .order_by(Disposition.id.desc())
            .limit(200)
        ).all()
        callbacks = conn.execute(
            sa.select(
                Callback.at,
                Callback.customer_id,
                Callback.campaign,
                Customer.timezones.label("zones"),
            )
            .outerjoin(Customer, Customer.external_id == Callback.customer_id)
            .where(Callback.agent == agent, Callback.status == "scheduled")
            .order_by(Callback.at)
        ).all()
    shown = [
        {
            "at": c.at,
            "customer_id": c.customer_id,
            "campaign": c.campaign,
            # Shown on the customer's clock, as the agent agreed it with them.
            "zone": (c.zones or "UTC").split(";")[0],
        }
        for c in callbacks
    ]
    return ctx.render(request, "agent_history.html", user, rows=rows, callbacks=shown)
