"""The agent's WebRTC softphone: its SIP credentials, queue membership and library.

The desktop's script (``static/softphone.js``) asks ``/agent/softphone/config``
for where to register (CADENCIA_SOFTPHONE_WSS_URL) and the agent's SIP
password, derived from CADENCIA_SOFTPHONE_KEY (``softphone_provision``): it
is handed to the logged-in agent alone, over the console's session, and
never typed, so guessing it at Asterisk's WebSocket is hopeless, and getting
it means passing the console's login throttle. Once registered the page
posts ``online``: the console adds the agent's ``PJSIP/<agent>`` interface
to CADENCIA_SOFTPHONE_QUEUES, paused (``QueueAdd``), and the agent goes
ready with the desktop's Ready button (after the sound check). ``offline``,
and logging out, remove it (``QueueRemove``). Both go through the console's
own AMI user: QueueAdd and QueueRemove are in the same "agent" class as
QueuePause, so the console gains no right it did not have.

SIP.js (npm, pinned by ``package-lock.json``, installed by ``make install``)
is served from the console's own origin under ``/vendor/sip.js/``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from cadencia.console.deps import WebContext, context, role
from cadencia.console.i18n import msg
from cadencia.console.pbx import PbxUnavailable
from cadencia.console.security import CurrentUser
from cadencia.console.softphone_provision import sip_password
from campaigns.settings import AmiSettings, SoftphoneSettings
from dialer.ami import AmiActionError, AmiClient, AmiError

log = logging.getLogger(__name__)
router = APIRouter()
agent_only = role("agent")
# npm's install directory at the repository's root (make install: npm ci).
SIPJS_DIR = Path(__file__).resolve().parents[2] / "node_modules" / "sip.js" / "lib"
SIPJS_URL = "/vendor/sip.js"
NO_SOFTPHONE = msg(
    "No softphone is configured: ask your administrator to set CADENCIA_SOFTPHONE_WSS_URL and "
    "CADENCIA_SOFTPHONE_KEY, and to run `cadencia softphone provision`."
)
NOT_ON_SOFTPHONE = msg(
    "This account's queue interface is not PJSIP/<agent id>, so it has no softphone: ask an "
    "administrator to set it."
)


def install_softphone(app: FastAPI, settings: SoftphoneSettings | None) -> None:
    """Serve the softphone's routes and SIP.js; remember ``settings`` on the app."""
    app.state.softphone = settings
    app.include_router(router)
    if not SIPJS_DIR.is_dir():
        log.warning("SIP.js is not installed at %s: run `make install` (npm ci)", SIPJS_DIR)
    app.mount(SIPJS_URL, StaticFiles(directory=str(SIPJS_DIR), check_dir=False), name="sipjs")


def wss_origin(settings: SoftphoneSettings | None) -> str:
    """The WSS origin the console's CSP must let pages connect to ('' without a softphone)."""
    if settings is None:
        return ""
    scheme, _, rest = settings.wss_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _settings(request: Request) -> SoftphoneSettings:
    settings: SoftphoneSettings | None = getattr(request.app.state, "softphone", None)
    if settings is None:
        raise HTTPException(503, NO_SOFTPHONE)
    return settings


def _agent(user: CurrentUser) -> str:
    """The agent id of an account on a softphone (403 otherwise)."""
    agent = user.agent_id
    if not agent or user.queue_interface != f"PJSIP/{agent}":
        raise HTTPException(403, NOT_ON_SOFTPHONE)
    return agent


@router.get("/agent/softphone/config")
def softphone_config(request: Request, user: CurrentUser = Depends(agent_only)) -> Response:
    """Where and as whom this agent's browser registers (never cached: it holds a password)."""
    settings = _settings(request)
    agent = _agent(user)
    host = wss_origin(settings).split("://", 1)[1].rsplit(":", 1)[0]
    doc: dict[str, Any] = {
        "wss": settings.wss_url,
        "uri": f"sip:{agent}@{host}",
        "username": agent,
        "password": sip_password(settings.key, agent),
        "display": user.username,
        "auto_answer": settings.auto_answer,
    }
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


async def _members(ami: AmiSettings, action: str, fields: list[list[tuple[str, str]]]) -> None:
    """One AMI login, ``action`` once per field set; "already there" / "not there" are fine."""
    client = AmiClient(ami.host, ami.port, ami.username, ami.secret, connect_timeout=3.0)
    async with client:
        for each in fields:
            try:
                await client.send_action(action, each, timeout=5.0)
            except AmiActionError as exc:
                message = (exc.response.message or "").lower()
                if "already there" not in message and "not there" not in message:
                    raise


async def join_queues(ami: AmiSettings, settings: SoftphoneSettings, agent: str) -> None:
    """QueueAdd ``PJSIP/<agent>`` to each softphone queue, paused until the agent is ready."""
    interface = f"PJSIP/{agent}"
    await _members(
        ami,
        "QueueAdd",
        [
            [("Queue", queue), ("Interface", interface), ("MemberName", agent), ("Paused", "true")]
            for queue in settings.queues
        ],
    )


async def leave_queues(ami: AmiSettings, settings: SoftphoneSettings, agent: str) -> None:
    """QueueRemove ``PJSIP/<agent>`` from each softphone queue."""
    interface = f"PJSIP/{agent}"
    await _members(
        ami,
        "QueueRemove",
        [[("Queue", queue), ("Interface", interface)] for queue in settings.queues],
    )


async def _membership(request: Request, user: CurrentUser, ctx: WebContext, join: bool) -> None:
    settings, agent = _settings(request), _agent(user)
    if ctx.ami is None:
        raise HTTPException(503, NO_SOFTPHONE)
    try:
        await (join_queues if join else leave_queues)(ctx.ami, settings, agent)
    except AmiActionError as exc:
        why = str(exc)
        raise HTTPException(
            502, msg("Asterisk refused to change your queue membership (%(why)s).", why=why)
        ) from exc
    except (AmiError, OSError, TimeoutError) as exc:
        raise PbxUnavailable(f"QueueAdd/QueueRemove {agent}: {exc}") from exc
    log.info("softphone: %s %s the queues %s", agent, "joined" if join else "left", settings.queues)


@router.post("/agent/softphone/online")
async def online(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """The browser registered: the agent joins the softphone queues, paused."""
    await _membership(request, user, ctx, join=True)
    return Response(status_code=204)


@router.post("/agent/softphone/offline")
async def offline(
    request: Request, user: CurrentUser = Depends(agent_only), ctx: WebContext = Depends(context)
) -> Response:
    """The browser unregistered (or the page closed): the agent leaves the queues."""
    await _membership(request, user, ctx, join=False)
    return Response(status_code=204)


def leave_on_logout(app: FastAPI, ctx: WebContext, user: CurrentUser) -> None:
    """Logging out takes a softphone agent out of the queues (best effort: logged).

    Called from the synchronous logout route, in a worker thread with no loop.
    """
    settings: SoftphoneSettings | None = getattr(app.state, "softphone", None)
    agent = user.agent_id
    if settings is None or ctx.ami is None or not agent:
        return
    if user.queue_interface != f"PJSIP/{agent}":
        return
    try:
        asyncio.run(leave_queues(ctx.ami, settings, agent))
    except (AmiError, OSError, TimeoutError) as exc:
        log.warning("softphone: %s logged out but stays in the queues: %s", agent, exc)
