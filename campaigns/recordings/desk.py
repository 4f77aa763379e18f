"""The call desk's half for recordings: follows each recorded call, keeps its file, pauses it.

What it hears on AMI: ``UserEvent(CadenciaRecording)`` when the dialplan
starts a call's MixMonitor (the debtor's channel, its file, the attempt when
known: an inbound call's attempt is written later, under ``inbound:<uniqueid>``);
``AgentConnect``/``AgentComplete`` (which agent is on that call now: a
transfer's new agent too); the debtor channel's ``Hangup``. After the hang-up
it waits until Asterisk has closed the file (its size stops changing), then
``records.register`` keeps it. A file with no audio (MixMonitor's ``b``
writes only while bridged: the call never reached an agent) is removed.

Pause requests (``campaigns.recordings.pause``) come from the console on
Redis; ``serve`` carries them out with ``MixMonitorMute`` and a timer that
resumes the recording after the campaign's ``pause_max_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.calls.requests import serve_requests
from campaigns.campaign import Recording as RecordingPolicy
from campaigns.recordings import records
from campaigns.recordings.pause import PauseError, PauseRequest, paused_key, requests_key
from campaigns.recordings.store import RecordingStore
from campaigns.settings import RecordingSettings
from dialer.ami.client import AmiClient, AmiError
from dialer.ami.events import AgentComplete, AgentConnect, Hangup, UserEvent, typed_event
from dialer.ami.protocol import AmiEvent

log = logging.getLogger(__name__)
START_EVENT = "CadenciaRecording"
WAV_HEADER = 44  # a MixMonitor .wav with no audio is its header alone
SETTLE_S, SETTLE_TIMEOUT_S = 0.5, 15.0


@dataclass
class _Call:
    """One recorded call, from its MixMonitor's start to its hang-up."""

    uniqueid: str
    channel: str
    file: str
    attempt_id: int | None
    started: dt.datetime
    connected: dt.datetime | None = None
    agent: str | None = None
    muted: bool = False
    paused_for: str | None = None  # the agent whose desktop shows the pause
    resume: asyncio.Task[None] | None = None


@dataclass
class RecordingDesk:
    """Recordings on one Asterisk server: ``on_event`` for AMI, ``serve`` for pause requests."""

    engine: Engine
    client: AmiClient
    redis: Redis
    settings: RecordingSettings
    store: RecordingStore
    namespace: str = "cadencia"
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _calls: dict[str, _Call] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def on_event(self, raw: AmiEvent) -> None:
        """One AMI event (an ``AmiClient`` event handler)."""
        event = typed_event(raw)
        try:
            if isinstance(event, UserEvent) and event.user_event == START_EVENT:
                self._started(event)
            elif isinstance(event, AgentConnect) and event.uniqueid in self._calls:
                call = self._calls[event.uniqueid]
                call.agent = event.member_name
                call.connected = call.connected or self.now()
            elif isinstance(event, AgentComplete) and event.uniqueid in self._calls:
                call = self._calls[event.uniqueid]
                if call.agent == event.member_name:
                    call.agent = None
            elif isinstance(event, Hangup) and event.uniqueid in self._calls:
                self._spawn(self._finish(self._calls.pop(event.uniqueid)))
        except Exception:  # one bad call must not stop the desk
            log.exception("recording: event %s not handled", type(event).__name__)

    def _started(self, event: UserEvent) -> None:
        attempt = event.get("Attempt") or ""
        name = Path(event.get("File") or "").name
        if not name:
            log.warning("recording on %s: the dialplan named no file", event.uniqueid)
            return
        self._calls[event.uniqueid] = _Call(
            event.uniqueid, event.channel, name, int(attempt) if attempt.isdigit() else None,
            self.now(),
        )  # fmt: skip

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the recordings still being kept (before the desk stops)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _finish(self, call: _Call) -> None:
        """The call ended: end a pause, wait for the file to close, keep it."""
        if call.resume is not None:
            call.resume.cancel()
        if call.muted:
            await self._log(call, "resumed", "hangup", "the call ended while paused")
            self._clear_paused(call)
        path = self.settings.spool / call.file
        size = await _settled(path)
        if size < 0:
            log.info(
                "recording %s: no file in %s (never bridged to an agent, or "
                "CADENCIA_RECORDING_SPOOL is not where Asterisk writes)",
                call.file, self.settings.spool,
            )  # fmt: skip
            return
        if size <= WAV_HEADER:
            path.unlink(missing_ok=True)
            log.info("recording %s: no audio (never bridged to an agent): removed", call.file)
            return
        attempt = call.attempt_id or await asyncio.to_thread(
            records.attempt_by_key, self.engine, f"inbound:{call.uniqueid}"
        )
        if attempt is None:
            log.warning("recording %s: no attempt in the ledger; left in the spool", call.file)
            return
        try:
            await asyncio.to_thread(
                records.register, self.engine, self.store, path, attempt,
                recorded_at=call.connected or call.started, now=self.now(),
                default_retention_days=self.settings.retention_days,
            )  # fmt: skip
        except Exception:
            log.exception("recording %s of attempt %s not kept: left in the spool", path, attempt)

    async def serve(self, stop: asyncio.Event) -> None:
        """Carry out the console's pause requests until ``stop`` is set."""

        async def handle(raw: bytes | str) -> None:
            await self.carry_out(PauseRequest.from_json(raw))

        await serve_requests(self.redis, requests_key(self.namespace), stop, handle,
                             refused=(PauseError, AmiError), what="recording")  # fmt: skip
        for call in self._calls.values():
            if call.resume is not None:
                call.resume.cancel()

    def _call_of(self, request: PauseRequest) -> _Call:
        for call in self._calls.values():
            if call.agent == request.agent:
                return call
        for call in self._calls.values():
            if request.attempt_id is not None and call.attempt_id == request.attempt_id:
                return call
        raise PauseError(f"{request.agent} has no recorded call")

    async def carry_out(self, request: PauseRequest) -> None:
        """Pause or resume the recording of ``request.agent``'s call."""
        call = self._call_of(request)
        if request.action == "resume":
            if call.resume is not None:
                call.resume.cancel()
            await self._unmute(call, request.by, "the agent resumed")
            return
        if call.muted:
            return  # a second press: the first pause's timer stands
        policy = await asyncio.to_thread(self._policy, call)
        await self._mute(call, True)
        until = self.now() + dt.timedelta(seconds=policy.pause_max_s)
        await self._log(call, "paused", request.by, f"resumes by itself at {until.isoformat()}")
        call.paused_for = call.agent or request.agent
        with contextlib.suppress(Exception):  # the desktop then shows no countdown
            self.redis.set(
                paused_key(call.paused_for, self.namespace),
                until.isoformat(),
                ex=policy.pause_max_s + 5,
            )
        call.resume = asyncio.ensure_future(self._resume_after(call, policy.pause_max_s))

    async def _resume_after(self, call: _Call, seconds: float) -> None:
        await asyncio.sleep(seconds)
        call.resume = None
        await self._unmute(call, "timer", f"pause_max_s ({seconds:g} s) reached")

    async def _unmute(self, call: _Call, by: str, why: str) -> None:
        if not call.muted:
            return
        await self._mute(call, False)
        await self._log(call, "resumed", by, why)
        self._clear_paused(call)

    async def _mute(self, call: _Call, on: bool) -> None:
        await self.client.send_action(
            "MixMonitorMute",
            [("Channel", call.channel), ("Direction", "both"), ("State", "1" if on else "0")],
        )
        call.muted = on
        log.info("recording %s %s", call.file, "paused" if on else "resumed")

    def _clear_paused(self, call: _Call) -> None:
        if call.paused_for is not None:
            with contextlib.suppress(Exception):
                self.redis.delete(paused_key(call.paused_for, self.namespace))
            call.paused_for = None

    def _policy(self, call: _Call) -> RecordingPolicy:
        attempt = call.attempt_id or records.attempt_by_key(self.engine, f"inbound:{call.uniqueid}")
        campaign = None if attempt is None else records.attempt_campaign(self.engine, attempt)
        return records.policy_of(self.engine, campaign) or RecordingPolicy()

    async def _log(self, call: _Call, action: str, actor: str, detail: str) -> None:
        def write() -> None:
            attempt = call.attempt_id or records.attempt_by_key(
                self.engine, f"inbound:{call.uniqueid}"
            )
            if attempt is None:
                log.warning(
                    "recording %s: %s by %s not logged (no attempt)", call.file, action, actor
                )
                return
            with self.engine.begin() as conn:
                records.log_event(conn, attempt, action, actor, at=self.now(), detail=detail)

        await asyncio.to_thread(write)


async def _settled(path: Path) -> int:
    """The file's size once it stops growing (Asterisk closes it just after the hang-up);
    -1 when there is no such file."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    last = -2  # a missing file is looked for twice
    while loop.time() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size == last:
            return size
        last = size
        await asyncio.sleep(SETTLE_S)
    return last
