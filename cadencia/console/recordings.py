"""Call recordings in the console: the agent's PCI pause, the compliance officer's playback.

``POST /agent/recording/{pause,resume}`` queue a request for the call desk
(``campaigns.recordings.pause``): the console's AMI user may only pause
queue members, so the desk, whose user may act on calls, mutes the
recording and unmutes it after the campaign's ``pause_max_s``.

``GET /compliance/recordings/{id}/audio`` streams a recording to a
compliance officer, and to nobody else (not even an admin: a recording is
evidence and personal data, an admin manages accounts), after checking its
SHA-256; each playback, and each refusal of a missing or altered file, is
logged with who and when (``recording_events``). The timeline lists the
customer's recordings with that state (``customer_recordings``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import WebContext, context, role, say
from cadencia.console.i18n import msg
from cadencia.console.security import CurrentUser
from campaigns.agents.events import agent_call
from campaigns.recordings import playback, records
from campaigns.recordings.pause import PauseRequest, paused_until, request
from campaigns.recordings.store import DirectoryStore, RecordingStore

router = APIRouter()
agent_only = role("agent")
officers = role("compliance")
# How long a pause request waits for the call desk to confirm it.
CONFIRM_S = 3.0
MEDIA = {".wav": "audio/wav", ".gsm": "audio/x-gsm", ".ogg": "audio/ogg"}


def store_of(request_: Request) -> RecordingStore:
    """The recording store the app was given (``CADENCIA_RECORDING_DIR``)."""
    store = getattr(request_.app.state, "recording_store", None)
    return store if store is not None else DirectoryStore(Path("recordings"))


@router.post("/agent/recording/{action}")
async def pause_recording(
    action: str,
    request_: Request,
    user: CurrentUser = Depends(agent_only),
    ctx: WebContext = Depends(context),
) -> Response:
    """Ask the call desk to pause (PCI) or resume the recording of the agent's call.

    The answer waits (``CONFIRM_S`` at most) for the desk to confirm: an agent
    must not take a card number on a recording that is still running.
    """
    if action not in ("pause", "resume"):
        raise HTTPException(404, msg("Not found"))
    if not user.agent_id:
        raise HTTPException(403, msg("This account is not bound to a queue member."))
    agent = user.agent_id
    call = await run_in_threadpool(agent_call, ctx.redis, agent, namespace=ctx.namespace)
    if call.state != "talking":
        raise HTTPException(409, msg("There is no call whose recording could be paused."))
    pause = PauseRequest(agent, "pause" if action == "pause" else "resume", user.username,
                         ctx.clock(), call.attempt_id)  # fmt: skip
    await run_in_threadpool(request, ctx.redis, pause, namespace=ctx.namespace)
    until = await _confirmed(ctx, agent, paused=pause.action == "pause")
    if pause.action == "resume":
        notice = msg("Recording resumed.")
    elif until is None:
        notice = msg(
            "The call desk did not confirm the pause: the call is still being recorded. "
            "Do not take the card number; try again or call a supervisor."
        )
    else:
        notice = msg("Recording paused: it resumes by itself if you forget.")
    shown = say(request_, user, notice)
    return RedirectResponse(f"/agent?{urlencode({'notice': shown})}", status_code=303)


async def _confirmed(ctx: WebContext, agent: str, *, paused: bool) -> dt.datetime | None:
    """When the paused recording resumes by itself, once the desk says it is (None: not
    paused, or no word within ``CONFIRM_S``)."""
    deadline = asyncio.get_running_loop().time() + CONFIRM_S
    while True:
        until = await run_in_threadpool(paused_until, ctx.redis, agent, namespace=ctx.namespace)
        if (until is not None) == paused or asyncio.get_running_loop().time() > deadline:
            return until
        await asyncio.sleep(0.1)


def customer_recordings(ctx: WebContext, store: RecordingStore, customer_id: str) -> list[Any]:
    """The customer's recordings with their state (kept and intact, missing, altered, deleted)."""
    out = []
    for row in records.of_customer(ctx.engine, customer_id):
        verdict = playback.state(store, row)
        out.append({"row": row, "state": verdict.state, "found": verdict.sha256})
    return out


@router.get("/compliance/recordings/{recording_id}/audio")
def play(
    recording_id: int,
    request_: Request,
    user: CurrentUser = Depends(officers),
    ctx: WebContext = Depends(context),
) -> Response:
    """The recording's audio, checked against its SHA-256; every playback is logged."""
    if user.role != "compliance":
        raise HTTPException(403, msg("Only compliance officers may play call recordings."))
    try:
        row, chunks = playback.open_playback(
            ctx.engine, store_of(request_), recording_id, by=user.username, now=ctx.clock()
        )
    except playback.PlaybackRefused as exc:
        if exc.verdict is None:
            raise HTTPException(
                404, msg("There is no recording %(id)s.", id=recording_id)
            ) from None
        raise HTTPException(
            409,
            msg("Recording %(id)s is %(state)s: it is not played.", id=recording_id,
                state=exc.verdict.state),
        ) from None  # fmt: skip
    suffix = Path(row.storage_key).suffix
    return StreamingResponse(
        chunks,
        media_type=MEDIA.get(suffix, "application/octet-stream"),
        headers={
            "Content-Length": str(row.bytes),
            "X-Recording-SHA256": row.sha256,
            "Content-Disposition": f'inline; filename="{row.storage_key}"',
        },
    )
