"""The dial session: one campaign's pacing loop against Asterisk for one slot.

The loop asks the :class:`~dialer.pacing.Pacer` about once a ``tick`` how many
calls to place, takes that many leads from its :class:`Hopper` (priority
order), has the :class:`Guard` check and reserve each one at dial time (the
pending attempt exists before the Originate), originates it with a
``ChannelId`` derived from the attempt id, follows the call through its AMI
events and hands the outcome to the :class:`OutcomeSink`. It talks to those
three and to the PBX only through the small interfaces below, which
``campaigns.dialing`` implements over Redis, the ledger and AMI. A
:class:`CallObserver` hears when one of its calls reaches an agent and when
that conversation ends (``campaigns.dialing`` publishes the agent's screen pop
and wrap-up from it); it is told in order, off the event path, and its
failures are logged, never allowed to stop dialing or the ledger.

Never dialing anyone twice, whatever dies:

* A lead is taken from the hopper before it is guarded and only finished
  once its outcome is recorded (or it was refused), so a worker that dies
  leaves it "in progress" for the next run of the job.
* The hopper is told just before an Originate is sent (``mark_dialing``). A
  resumed lead whose reservation is replayed and still pending is dialed only
  when the hopper says no Originate went out; otherwise it is looked for among
  the PBX's live channels (adopted if there, its events still to come) or
  left pending in the ledger, visibly, for an operator: never re-dialed blindly.
* While AMI is down no call is placed (the client refuses to send); calls in
  flight are reconciled with the live channels after the reconnection, and
  the agent board is rebuilt from QueueStatus. An Originate refused because
  Asterisk is shutting down placed no call: its lead goes back to the hopper
  (not recorded as a failed attempt) and dialing pauses until Asterisk is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dialer.agents import AgentBoard, AgentStatus
from dialer.ami import (
    AmiActionError,
    AmiError,
    AmiEvent,
    AmiNotConnected,
    AmiResponse,
    ConnectionChange,
    OriginateOutcomeUnknown,
    typed_event,
)
from dialer.ami.events import (
    AgentComplete,
    AgentConnect,
    Hangup,
    OriginateReason,
    OriginateResponse,
    QueueCallerAbandon,
    QueueMember,
    UserEvent,
)
from dialer.estimators import CallOutcome
from dialer.pacing import Pacer, PacingSnapshot

log = logging.getLogger(__name__)

# Q.850 causes of the far side's hang-up, for a call whose OriginateResponse was lost.
_CAUSE_OUTCOME = {17: "busy", 18: "no_answer", 19: "no_answer", 1: "not_in_service"}
_REASON_OUTCOME: dict[int, str] = {
    OriginateReason.BUSY.value: "busy",
    OriginateReason.RINGING.value: "no_answer",
    OriginateReason.RING.value: "no_answer",
    OriginateReason.HANGUP.value: "no_answer",
    OriginateReason.CONGESTION.value: "not_in_service",
}
_PACER_OUTCOME = {
    "busy": CallOutcome.BUSY,
    "no_answer": CallOutcome.NO_ANSWER,
    "machine": CallOutcome.MACHINE,
}


def call_id_for(attempt_id: int, prefix: str = "cadencia") -> str:
    """The ChannelId of the call made for ledger attempt ``attempt_id``.

    ``prefix`` tells apart the ledgers (deployments, test databases) that share
    one Asterisk: while a call is up, its ChannelId cannot be used again.
    """
    return f"{prefix}-a{attempt_id}"


@dataclass(frozen=True)
class Lead:
    """One planned contact waiting in the hopper; ``key`` is its guard key."""

    key: str
    customer_id: str


@dataclass(frozen=True)
class Reservation:
    """The guard's answer for a lead, with the number to dial when allowed.

    ``replayed``: the key was reserved before (a resumed job); ``settled``:
    that earlier attempt already has its outcome. ``agent``: the queue member
    the call is offered to first (the customer's owner, or the agent who set
    the callback), None for anyone.
    """

    lead: Lead
    allowed: bool
    attempt_id: int | None = None
    number: str | None = None
    reason: str = ""
    replayed: bool = False
    settled: bool = False
    agent: str | None = None


@dataclass(frozen=True)
class CallResult:
    """The outcome of one call, for the ledger."""

    attempt_id: int
    outcome: str
    at: dt.datetime
    agent: str | None = None
    duration_s: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Hopper(Protocol):
    """Leads in priority order, with those taken but not finished remembered."""

    def take(self, n: int) -> list[Lead]:
        """Up to ``n`` next leads, moved to "in progress"."""
        ...

    def in_progress(self) -> list[Lead]:
        """Leads taken and not finished (a previous run died with them)."""
        ...

    def mark_dialing(self, lead: Lead) -> None:
        """Recorded just before the Originate is sent."""
        ...

    def unmark_dialing(self, lead: Lead) -> None:
        """The Originate provably did not go out (AMI refused to send it)."""
        ...

    def was_dialing(self, lead: Lead) -> bool:
        """True when an Originate may have gone out (or the hopper cannot tell)."""
        ...

    def give_back(self, lead: Lead) -> None:
        """Return a taken lead to the front: it was not dialed."""
        ...

    def finish(self, lead: Lead) -> None:
        """Done with the lead (outcome recorded, refused, or left pending visibly)."""
        ...

    def remaining(self) -> int:
        """Leads not yet taken."""
        ...


class Guard(Protocol):
    """Check a lead against the rules and reserve its attempt (fail closed)."""

    def reserve(self, lead: Lead, at: dt.datetime) -> Reservation:
        """Decide now; when allowed, the pending attempt row exists on return."""
        ...


@dataclass(frozen=True)
class ConnectedCall:
    """One of the session's calls with an agent: who talks to whom, for which attempt.

    ``agent`` is the queue member's name (AgentConnect's MemberName); ``at``
    is the session's wall clock when the event was seen.
    """

    agent: str
    customer_id: str
    attempt_id: int
    at: dt.datetime


class CallObserver(Protocol):
    """Told when a call reaches an agent and when that conversation ends (the screen pop).

    Called from a worker thread, one call at a time and in order; an exception
    is logged by the session and goes no further.
    """

    def connected(self, call: ConnectedCall) -> None:
        """The call was put through to ``call.agent``."""
        ...

    def completed(self, call: ConnectedCall) -> None:
        """The conversation ended (once per call that reached an agent)."""
        ...


class NoCallObserver:
    """The default observer: nobody is listening."""

    def connected(self, call: ConnectedCall) -> None:
        """Nothing to do."""

    def completed(self, call: ConnectedCall) -> None:
        """Nothing to do."""


class OutcomeSink(Protocol):
    """Where call outcomes go (the contact ledger)."""

    def record(self, result: CallResult) -> None:
        """Record one outcome; recording the same outcome twice writes it once."""
        ...


EventHandler = Callable[[AmiEvent], Awaitable[None]]
ConnectionHandler = Callable[[ConnectionChange], Awaitable[None]]


class Pbx(Protocol):
    """The PBX as the session needs it (``campaigns.dialing.AmiPbx`` over AMI)."""

    @property
    def connected(self) -> bool:
        """True while logged in on a live AMI connection."""
        ...

    def add_event_handler(self, handler: EventHandler) -> None:
        """Every AMI event, in arrival order."""
        ...

    def add_connection_handler(self, handler: ConnectionHandler) -> None:
        """Every loss and recovery of the connection, in order with the events."""
        ...

    async def dial(
        self, call_id: str, number: str, *, attempt_id: int, ring_timeout: float
    ) -> AmiResponse:
        """Originate a call to ``number`` with ChannelId ``call_id``; never re-sent.

        Raises AmiNotConnected (not sent), OriginateOutcomeUnknown (may exist),
        AmiActionError (refused: no call). A PBX that routes to owners also
        takes ``owner=<member name>`` (passed only when the call has one).
        """
        ...

    async def live_calls(self) -> set[str]:
        """Uniqueids of every live channel."""
        ...

    async def queue_members(self) -> list[QueueMember]:
        """The campaign queue's members (QueueStatus)."""
        ...


@dataclass(frozen=True)
class SessionConfig:
    """One slot's session. Times in seconds of the PBX's (real) clock."""

    duration_s: float
    day: dt.date
    ring_timeout_s: float = 25.0
    amd: bool = True
    tick_s: float = 1.0
    drain_s: float = 600.0  # after the slot, wait this long at most for calls in flight
    max_refusals_per_tick: int = 50  # refused leads replaced in one tick, at most
    settle_s: float = 2.0  # wait for a lost OriginateResponse after the Hangup
    call_prefix: str = "cadencia"  # ChannelIds are <prefix>-a<attempt id>
    # A reserved call for an agent who is not ready waits this long, undialed
    owner_wait_s: float = 0.0

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or self.tick_s <= 0 or self.ring_timeout_s <= 0:
            raise ValueError("SessionConfig: duration_s, tick_s and ring_timeout_s must be > 0")


@dataclass
class SessionReport:
    """What one run of a session did."""

    dials: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    already_done: int = 0
    adopted: int = 0
    left_pending: list[int] = field(default_factory=list)
    not_sent: int = 0
    held_for_owner: int = 0  # calls that waited for their agent before being dialed
    reconnections: int = 0
    max_in_flight: int = 0
    leads_left: int = 0
    carried_over: int = 0  # leads left handed to the next slot (set by whoever owns the hopper)
    stopped: str | None = None  # why dialing ended before the slot did, if it was stopped

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = dict(vars(self))
        out["outcomes"] = dict(self.outcomes)
        return out


@dataclass
class _Call:
    lead: Lead
    attempt_id: int
    call_id: str
    started: float
    adopted: bool = False
    unknown: bool = False  # the Originate's answer was lost
    progress_done: bool = False  # call progress over (answered, busy, no answer...)
    answered: bool = False
    live: bool = False
    live_at: float | None = None  # when a person answered (waiting for an agent since)
    agent: str | None = None
    connected_at: float | None = None
    announced: bool = False  # the observer was told of the connect
    abandoned: bool = False
    owner_phase: bool = False  # offered to its owner alone (UserEvent CadenciaOwner)
    hangup_at: float | None = None
    far_cause: int | None = None
    originate_failed: str | None = None


class DialSession:
    """Runs one slot. Create, then ``await session.run()``."""

    def __init__(
        self,
        config: SessionConfig,
        pacer: Pacer,
        board: AgentBoard,
        hopper: Hopper,
        guard: Guard,
        sink: OutcomeSink,
        pbx: Pbx,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.config, self.pacer, self.board = config, pacer, board
        self.hopper, self.guard, self.sink, self.pbx = hopper, guard, sink, pbx
        self.observer: CallObserver = observer or NoCallObserver()
        self._told: asyncio.Task[None] | None = None  # the observer's latest notification
        self.clock = clock
        self.wall = wall or (lambda: dt.datetime.now(dt.UTC))
        self.report = SessionReport()
        self._calls: dict[str, _Call] = {}
        self._far: dict[str, str] = {}  # far side's uniqueid -> call id
        self._finished: set[str] = set()
        self._reconciling = False
        self._pbx_paused_until = float("-inf")  # Asterisk said it is shutting down
        self._stop_reason: str | None = None
        # reserved calls waiting for their agent: (reservation, since)
        self._held: list[tuple[Reservation, float]] = []
        pbx.add_event_handler(self._on_event)
        pbx.add_connection_handler(self._on_connection)

    # ---- the loop ----------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Place no more calls (``reason`` goes in the report); calls in flight still finish.

        Safe to call from the session's event loop at any time, more than once
        (the first reason is kept).
        """
        if self._stop_reason is None:
            log.warning("dial session stopping: %s", reason)
            self._stop_reason = reason
            self.report.stopped = reason

    async def run(self) -> SessionReport:
        """Dial until the slot ends, the hopper empties or :meth:`stop`; then let calls finish."""
        cfg = self.config
        start = self.clock()
        end = start + cfg.duration_s
        if self.pbx.connected:
            await self._resync_board()
        for lead in self.hopper.in_progress():
            await self._resume(lead, may_dial=self.clock() < end and self._stop_reason is None)
        while (
            self._stop_reason is None
            and self.clock() < end
            and (self._calls or self._held or self.hopper.remaining() > 0)
        ):
            if self.pbx.connected and not self._reconciling and not self._pbx_paused():
                await self._pace(end)
            await asyncio.sleep(cfg.tick_s)
            await self._settle_hung_up()
        self._give_back_held()
        drain_until = self.clock() + cfg.drain_s
        while self._calls and self.clock() < drain_until:
            await asyncio.sleep(min(cfg.tick_s, 0.2))
            await self._settle_hung_up()
        for call in list(self._calls.values()):
            log.warning("call %s still up when the session ended: left pending", call.call_id)
            self.report.left_pending.append(call.attempt_id)
            self._done(call)
        self.report.leads_left = self.hopper.remaining()
        await self._observer_caught_up()
        return self.report

    def snapshot(self) -> PacingSnapshot:
        """What the pacer sees now."""
        now = self.clock()
        ringing = [now - c.started for c in self._calls.values() if not c.progress_done]
        waiting = sum(
            1 for c in self._calls.values() if c.live and c.agent is None and not c.abandoned
        )
        return PacingSnapshot(
            now=now,
            day=self.config.day,
            agents=self.board.views(now),
            ringing=ringing,
            waiting_live=waiting,
        )

    def waiting_seconds(self) -> list[float]:
        """How long each answered call not yet with an agent has waited (the wallboard's)."""
        now = self.clock()
        return [
            now - c.live_at
            for c in self._calls.values()
            if c.live and c.live_at is not None and c.agent is None and not c.abandoned
        ]

    async def _pace(self, end: float) -> None:
        decision = self.pacer.decide(self.snapshot())
        wanted = decision.calls - await self._release_held(decision.calls, end)
        refusals = 0
        while wanted > 0 and refusals <= self.config.max_refusals_per_tick:
            if (
                self._stop_reason is not None
                or not self.pbx.connected
                or self.clock() >= end
                or self._pbx_paused()
            ):
                return
            leads = self.hopper.take(1)
            if not leads:
                return
            if await self._dial_lead(leads[0]):
                wanted -= 1
            else:
                refusals += 1

    async def _dial_lead(self, lead: Lead) -> bool:
        """Guard and dial one lead; True when a call was placed (or adopted)."""
        reservation = await asyncio.to_thread(self.guard.reserve, lead, self.wall())
        if not reservation.allowed or reservation.attempt_id is None:
            log.info("lead %s refused: %s", lead.key, reservation.reason)
            self.report.refused += 1
            self.hopper.finish(lead)
            return False
        if reservation.replayed:
            return await self._replayed(reservation)
        if self._hold(reservation):
            return False
        return await self._originate(reservation)

    # ---- waiting for the customer's agent ----------------------------------
    def _hold(self, res: Reservation) -> bool:
        """Keep a call for an agent who is not ready aside, undialed (True when kept).

        The wait is before the Originate, never on the line: a person who
        answers may wait only the safe-harbour seconds for an agent.
        """
        if res.agent is None or self.config.owner_wait_s <= 0:
            return False
        if self.board.status(res.agent, self.clock()) is AgentStatus.READY:
            return False
        self._held.append((res, self.clock()))
        self.report.held_for_owner += 1
        return True

    async def _release_held(self, wanted: int, end: float) -> int:
        """Dial the held calls whose agent is ready or whose wait is over; returns how many.

        Near the slot's end every held call goes, so none outlives its slot.
        """
        placed, now = 0, self.clock()
        closing = now + self.config.owner_wait_s >= end
        for item in list(self._held):
            res, since = item
            assert res.agent is not None
            ready = self.board.status(res.agent, now) is AgentStatus.READY
            if not (ready or closing or now - since >= self.config.owner_wait_s):
                continue
            if placed >= wanted or not self.pbx.connected or self._stop_reason is not None:
                break
            self._held.remove(item)
            placed += await self._originate(res)
        return placed

    def _give_back_held(self) -> None:
        """Held calls not dialed when dialing stops go back (their pending attempt replays)."""
        for res, _ in self._held:
            self.hopper.give_back(res.lead)
        self._held.clear()

    async def _resume(self, lead: Lead, *, may_dial: bool) -> None:
        """A lead a previous run took and did not finish.

        After the slot's end (a job rerun late) only calls that may already
        exist are reconciled; a lead never dialed goes back, undialed.
        """
        if not self.pbx.connected or not (may_dial or self.hopper.was_dialing(lead)):
            self.hopper.give_back(lead)  # decided once AMI is back, via the normal path
            return
        await self._dial_lead(lead)

    async def _replayed(self, res: Reservation) -> bool:
        assert res.attempt_id is not None
        lead = res.lead
        if res.settled:
            self.report.already_done += 1
            self.hopper.finish(lead)
            return False
        if not self.hopper.was_dialing(lead):
            return await self._originate(res)  # reserved, provably never originated
        call_id = call_id_for(res.attempt_id, self.config.call_prefix)
        try:
            live = await self.pbx.live_calls()
        except AmiError as exc:
            log.warning("cannot reconcile %s now (%s); retried later", lead.key, exc)
            self.hopper.give_back(lead)
            return False
        if call_id in live:
            self._calls[call_id] = _Call(lead, res.attempt_id, call_id, self.clock(), adopted=True)
            self.report.adopted += 1
            return True
        log.warning(
            "attempt %s (%s) may have been dialed and is not live: left pending, not re-dialed",
            res.attempt_id,
            lead.key,
        )
        self.report.left_pending.append(res.attempt_id)
        self.hopper.finish(lead)
        return False

    async def _originate(self, res: Reservation) -> bool:
        assert res.attempt_id is not None
        lead = res.lead
        if not res.number:
            await self._record(res.attempt_id, "failed", extra={"why": "no number to dial"})
            self.hopper.finish(lead)
            return False
        call_id = call_id_for(res.attempt_id, self.config.call_prefix)
        call = _Call(lead, res.attempt_id, call_id, self.clock())
        self._calls[call_id] = call  # before sending: the first event may beat the response
        self._far[f"{call_id}-far"] = call_id
        self.hopper.mark_dialing(lead)
        owner: dict[str, str] = {"owner": res.agent} if res.agent else {}
        try:
            await self.pbx.dial(
                call_id,
                res.number,
                attempt_id=res.attempt_id,
                ring_timeout=self.config.ring_timeout_s,
                **owner,
            )
        except AmiNotConnected:
            self._calls.pop(call_id, None)
            self.hopper.unmark_dialing(lead)
            self.hopper.give_back(lead)
            self.report.not_sent += 1
            return False
        except OriginateOutcomeUnknown:
            call.unknown = True
            self.report.dials += 1
            self._track_max()
            return True
        except AmiActionError as exc:
            self._calls.pop(call_id, None)
            if not exc.shutting_down:
                await self._record(res.attempt_id, "failed", extra={"why": str(exc)})
                self.hopper.finish(lead)
                return False
            # A PBX on its way down placed no call: the lead waits for it to come back.
            log.warning("Asterisk is shutting down: %s not dialed, dialing paused", lead.key)
            self.hopper.unmark_dialing(lead)
            self.hopper.give_back(lead)
            self.report.not_sent += 1
            self._pbx_paused_until = self.clock() + max(self.config.settle_s, self.config.tick_s)
            return False
        except ValueError as exc:  # a number it cannot dial
            self._calls.pop(call_id, None)
            await self._record(res.attempt_id, "failed", extra={"why": str(exc)})
            self.hopper.finish(lead)
            return False
        self.report.dials += 1
        self._track_max()
        return True

    def _track_max(self) -> None:
        self.report.max_in_flight = max(self.report.max_in_flight, len(self._calls))

    # ---- events ------------------------------------------------------------
    async def _on_event(self, event: AmiEvent) -> None:
        typed = typed_event(event)
        if typed is None:
            return
        now = self.clock()
        completed = self.board.apply(typed, now)
        if completed is not None:
            self.pacer.record_talk(completed.talk_seconds)
        for wrap in self.board.take_finished_wraps():
            self.pacer.record_wrap(wrap)
        uid = getattr(typed, "uniqueid", "")
        if isinstance(typed, Hangup) and uid in self._far:
            call = self._calls.get(self._far[uid])
            if call is not None:
                call.far_cause = typed.cause
            return
        call = self._calls.get(uid)
        if call is None:
            return
        if isinstance(typed, OriginateResponse):
            await self._originate_response(call, typed, now)
        elif isinstance(typed, UserEvent):
            await self._user_event(call, typed, now)
        elif isinstance(typed, AgentConnect):
            call.agent, call.connected_at = typed.member_name, now
            call.owner_phase = False
            self._progress(call, CallOutcome.LIVE, now)
            self.pacer.record_live_answer(self.config.day, abandoned=False)
            self._announce(call, call.agent)
        elif isinstance(typed, AgentComplete):
            await self._finish(
                call,
                "conversation",
                agent=typed.member_name,
                duration_s=float(typed.talk_time),
                extra={"hold_s": typed.hold_time},
            )
        elif isinstance(typed, QueueCallerAbandon):
            if call.owner_phase:
                # the owner-only Queue() ended untaken (it reports that as an
                # abandon); the dialplan now offers the call to anyone
                call.owner_phase = False
                return
            self._abandon(call, now)
        elif isinstance(typed, Hangup):
            call.hangup_at = now
            if call.agent is not None:
                talk = now - (call.connected_at or now)
                await self._finish(call, "conversation", agent=call.agent, duration_s=talk)
            elif call.abandoned:
                await self._finish(call, "abandoned", extra={"safe_harbour": False})
            elif call.live:
                # a person answered and no agent took the call: an abandon
                self._abandon(call, now)
                await self._finish(call, "abandoned", extra={"safe_harbour": False})

    async def _originate_response(self, call: _Call, ev: OriginateResponse, now: float) -> None:
        if ev.success:
            call.answered = True
            if not self.config.amd:
                self._progress(call, CallOutcome.LIVE, now)
            return
        outcome = _REASON_OUTCOME.get(ev.reason, "failed")
        self._progress(call, _PACER_OUTCOME.get(outcome, CallOutcome.FAILED), now)
        await self._finish(call, outcome, extra={"originate_reason": ev.reason_name})

    async def _user_event(self, call: _Call, ev: UserEvent, now: float) -> None:
        name = ev.user_event.lower()
        if name == "cadenciaamd":
            status = (ev.get("Status") or "").upper()
            call.answered = True
            if status == "MACHINE":
                self._progress(call, CallOutcome.MACHINE, now)
                await self._finish(call, "machine", extra={"amd": ev.get("Cause") or ""})
            elif status == "HANGUP":
                self._progress(call, CallOutcome.FAILED, now)
                await self._finish(call, "failed", extra={"amd": "HANGUP"})
            else:
                self._progress(call, CallOutcome.LIVE, now)
        elif name == "cadenciaowner":
            call.owner_phase = True
        elif name == "cadenciaabandon":
            self._abandon(call, now)
            await self._finish(
                call,
                "abandoned",
                extra={"safe_harbour": True, "queue_status": ev.get("QueueStatus") or ""},
            )

    def _progress(self, call: _Call, outcome: CallOutcome, now: float) -> None:
        """Call progress is over: tell the pacer once."""
        if call.progress_done:
            return
        call.progress_done = True
        call.live = outcome is CallOutcome.LIVE
        call.live_at = now if call.live else None
        if not call.adopted:
            self.pacer.record_call_resolved(outcome, now - call.started)

    def _abandon(self, call: _Call, now: float) -> None:
        self._progress(call, CallOutcome.LIVE, now)
        if not call.abandoned:
            call.abandoned = True
            self.pacer.record_live_answer(self.config.day, abandoned=True)

    async def _settle_hung_up(self) -> None:
        """Unanswered calls that hung up and whose OriginateResponse never came."""
        now = self.clock()
        for call in list(self._calls.values()):
            if call.hangup_at is None or now - call.hangup_at < self.config.settle_s:
                continue
            outcome = _CAUSE_OUTCOME.get(call.far_cause or -1)
            if outcome is None:
                self._leave_pending(call, "hung up; no event says how")
                continue
            self._progress(call, _PACER_OUTCOME.get(outcome, CallOutcome.FAILED), now)
            await self._finish(call, outcome, extra={"far_cause": call.far_cause})

    # ---- reconnection ------------------------------------------------------
    def _pbx_paused(self) -> bool:
        """Asterisk refused a call because it is shutting down, a moment ago."""
        return self.clock() < self._pbx_paused_until

    async def _on_connection(self, change: ConnectionChange) -> None:
        if not change.connected:
            self._reconciling = True
            return
        self._pbx_paused_until = float("-inf")
        self.report.reconnections += change.generation > 1
        try:
            await self._resync_board()
            live = await self.pbx.live_calls()
        except AmiError as exc:
            log.warning("reconciliation after reconnect failed (%s); next login retries", exc)
            return
        for call in list(self._calls.values()):
            if call.call_id in live or call.hangup_at is not None:
                continue
            # ended while nobody was listening
            if call.agent is not None:
                await self._finish(
                    call,
                    "conversation",
                    agent=call.agent,
                    extra={"reconciled": "ended while AMI was down; talk time unknown"},
                )
            elif call.abandoned:
                await self._finish(call, "abandoned", extra={"reconciled": True})
            else:
                self._leave_pending(call, "ended while AMI was down")
        self._reconciling = False

    async def _resync_board(self) -> None:
        members = await self.pbx.queue_members()
        self.board.resync(members, self.clock())

    # ---- outcomes ----------------------------------------------------------
    async def _finish(
        self,
        call: _Call,
        outcome: str,
        *,
        agent: str | None = None,
        duration_s: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if call.call_id in self._finished:
            return
        self._finished.add(call.call_id)
        try:
            await self._record(call.attempt_id, outcome, agent, duration_s, extra)
        finally:
            # After the outcome is in the ledger (the agent's disposition follows it),
            # and even if recording failed: the agent must not stay "talking".
            if agent is not None:
                self._announce(call, agent)  # an AgentConnect lost while AMI was down
                self._tell(
                    "completed",
                    ConnectedCall(agent, call.lead.customer_id, call.attempt_id, self.wall()),
                )
        self.report.outcomes[outcome] += 1
        self._done(call)

    # ---- the observer ------------------------------------------------------
    def _announce(self, call: _Call, agent: str) -> None:
        """Tell the observer once that ``call`` reached ``agent``."""
        if call.announced:
            return
        call.announced = True
        self._tell(
            "connected", ConnectedCall(agent, call.lead.customer_id, call.attempt_id, self.wall())
        )

    def _tell(self, what: str, call: ConnectedCall) -> None:
        """Queue one notification behind the previous one: in order, never awaited here.

        The observer does I/O (Redis); a slow or dead one must not hold back
        the AMI events that drive dialing and the ledger.
        """
        previous = self._told
        self._told = asyncio.create_task(self._notify(previous, what, call))

    async def _notify(
        self, previous: asyncio.Task[None] | None, what: str, call: ConnectedCall
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # order only: it never raises
        notify = self.observer.connected if what == "connected" else self.observer.completed
        try:
            await asyncio.to_thread(notify, call)
        except Exception:  # an observer is never allowed to break dialing
            log.exception("call observer failed on %s of attempt %s", what, call.attempt_id)

    async def _observer_caught_up(self, timeout: float = 10.0) -> None:
        """Let the last notifications out before the session returns (bounded)."""
        if self._told is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._told), timeout)

    def _leave_pending(self, call: _Call, why: str) -> None:
        log.warning("attempt %s: %s; left pending for an operator", call.attempt_id, why)
        if call.progress_done is False and not call.adopted:
            call.progress_done = True  # no longer ringing for the pacer
        self.report.left_pending.append(call.attempt_id)
        self._finished.add(call.call_id)
        self._done(call)

    def _done(self, call: _Call) -> None:
        self._calls.pop(call.call_id, None)
        self._far.pop(f"{call.call_id}-far", None)
        self.hopper.finish(call.lead)

    async def _record(
        self,
        attempt_id: int,
        outcome: str,
        agent: str | None = None,
        duration_s: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        result = CallResult(attempt_id, outcome, self.wall(), agent, duration_s, dict(extra or {}))
        await asyncio.to_thread(self.sink.record, result)
