"""The agent board: what every agent of a campaign's queue is doing, from AMI events.

Pure: events and the time (seconds, any monotonic origin) are passed in.
States follow the queue's own view of its members:

* ``QueueMemberStatus`` carries the member's device state (NOT_INUSE ready,
  INUSE/BUSY/ONHOLD on a call, RINGING, UNAVAILABLE/INVALID logged out) and
  whether it is paused;
* ``AgentCalled`` (the queue rings the agent), ``AgentConnect`` (bridged to a
  debtor) and ``AgentComplete`` (the conversation ended; wrap-up starts, for
  the queue's ``wrapuptime``) refine it between device-state changes;
* ``QueueMemberPause`` pauses and unpauses; a pause whose reason is
  ``wrapup`` is the agent keying in a disposition, shown as wrap-up, because
  the pacer must expect that agent back soon, unlike one on a break;
* after an AMI reconnection the events of the gap are lost, so
  :meth:`AgentBoard.resync` replaces the board with the members listed by
  ``QueueStatus``.

:meth:`AgentBoard.views` maps the board onto the pacer's ``AgentView``s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from dialer.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    DeviceState,
    QueueMember,
    QueueMemberPause,
    TypedEvent,
)
from dialer.pacing import AgentState, AgentView

WRAPUP_PAUSE_REASON = "wrapup"

_OFFLINE = {DeviceState.UNAVAILABLE, DeviceState.INVALID}
_ON_CALL = {DeviceState.INUSE, DeviceState.BUSY, DeviceState.ONHOLD, DeviceState.RINGINUSE}


class AgentStatus(StrEnum):
    """An agent's state on the board."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"


@dataclass(frozen=True)
class Agent:
    """One queue member as the board sees it.

    ``since`` is when the current state began; ``call`` the debtor call's
    Uniqueid while ringing or talking; ``wrap_until`` the end of the queue's
    wrap-up time after a call, when the agent becomes ready again.
    """

    name: str
    interface: str
    status: AgentStatus
    since: float
    paused: bool = False
    pause_reason: str = ""
    device: DeviceState | None = None
    call: str | None = None
    wrap_until: float | None = None


@dataclass(frozen=True)
class Completed:
    """A conversation that ended, as ``AgentComplete`` reported it."""

    agent: str
    call: str
    talk_seconds: float
    hold_seconds: float


class AgentBoard:
    """The agents of one queue. Feed :meth:`apply` every typed event in order."""

    def __init__(self, queue: str, wrapup_seconds: float = 0.0) -> None:
        if not queue:
            raise ValueError("AgentBoard: queue name is required")
        if wrapup_seconds < 0:
            raise ValueError(f"AgentBoard: wrapup_seconds must be >= 0, got {wrapup_seconds}")
        self.queue = queue
        self.wrapup_seconds = wrapup_seconds
        self._agents: dict[str, Agent] = {}
        self._wraps_done: list[float] = []

    # ---- reading ---------------------------------------------------------
    def agents(self, now: float) -> dict[str, Agent]:
        """Every known member by name, with wrap-ups that have run out made ready."""
        self._expire(now)
        return dict(self._agents)

    def status(self, name: str, now: float) -> AgentStatus:
        """One agent's state (LOGGED_OUT when unknown)."""
        agent = self.agents(now).get(name)
        return agent.status if agent else AgentStatus.LOGGED_OUT

    def views(self, now: float) -> list[AgentView]:
        """The logged-in agents as the pacer sees them (ringing counts as talking)."""
        out: list[AgentView] = []
        for agent in self.agents(now).values():
            state = _PACER_STATE.get(agent.status)
            if state is not None:
                out.append(AgentView(state, max(0.0, now - agent.since)))
        return out

    def take_finished_wraps(self) -> list[float]:
        """Lengths of the wrap-ups that ended since the last call (for the pacer)."""
        done, self._wraps_done = self._wraps_done, []
        return done

    # ---- events ----------------------------------------------------------
    def apply(self, event: TypedEvent, now: float) -> Completed | None:
        """Update the board with one event; returns a finished conversation, if any."""
        self._expire(now)
        if isinstance(event, QueueMember):
            if event.queue == self.queue:
                self._member(event, now, pause_only=isinstance(event, QueueMemberPause))
            return None
        if isinstance(event, AgentCalled | AgentConnect | AgentComplete):
            if event.queue != self.queue or not event.member_name:
                return None
            agent = self._agents.get(event.member_name) or Agent(
                event.member_name, event.interface, AgentStatus.READY, now
            )
            if isinstance(event, AgentCalled):
                self._set(agent, AgentStatus.RINGING, now, call=event.uniqueid)
            elif isinstance(event, AgentConnect):
                self._set(agent, AgentStatus.TALKING, now, call=event.uniqueid)
            else:
                self._wrap(agent, now)
                return Completed(
                    agent.name, event.uniqueid, float(event.talk_time), float(event.hold_time)
                )
        return None

    def resync(self, members: Iterable[QueueMember], now: float) -> None:
        """Replace the board with a QueueStatus answer (after a reconnection).

        Calls in progress keep their start time when the agent is still on
        one; everything else starts counting from ``now``.
        """
        old = self._agents
        self._agents = {}
        for member in members:
            if member.queue != self.queue:
                continue
            previous = old.get(member.member_name)
            if previous is not None:
                self._agents[member.member_name] = previous
            self._member(member, now, pause_only=False)

    # ---- internals -------------------------------------------------------
    def _member(self, m: QueueMember, now: float, *, pause_only: bool) -> None:
        agent = self._agents.get(m.member_name) or Agent(
            m.member_name, m.interface, AgentStatus.LOGGED_OUT, now
        )
        device = agent.device if pause_only else m.device_state
        agent = replace(agent, paused=m.paused, pause_reason=m.paused_reason, device=device)
        self._agents[agent.name] = agent
        if m.paused:
            wrap = m.paused_reason.lower() == WRAPUP_PAUSE_REASON
            self._set(agent, AgentStatus.WRAPUP if wrap else AgentStatus.PAUSED, now, keep=True)
            return
        if device in _OFFLINE:
            self._set(agent, AgentStatus.LOGGED_OUT, now)
        elif device in _ON_CALL or m.in_call:
            # RINGING/TALKING set by AgentCalled/AgentConnect are finer: keep them
            if agent.status not in (AgentStatus.RINGING, AgentStatus.TALKING):
                self._set(agent, AgentStatus.TALKING, now)
        elif device is DeviceState.RINGING:
            if agent.status is not AgentStatus.TALKING:
                self._set(agent, AgentStatus.RINGING, now, call=agent.call)
        elif agent.status in (AgentStatus.TALKING, AgentStatus.RINGING):
            # the phone hung up; AgentComplete (if it comes) sets the wrap-up
            self._wrap(agent, now)
        elif agent.status is AgentStatus.WRAPUP and agent.wrap_until is not None:
            return  # idle again, but still inside the queue's wrap-up time
        elif agent.status is not AgentStatus.READY:
            self._set(agent, AgentStatus.READY, now)

    def _wrap(self, agent: Agent, now: float) -> None:
        agent = self._agents.get(agent.name, agent)
        if agent.status is AgentStatus.WRAPUP and agent.wrap_until is not None:
            return  # AgentComplete and the device going idle both end the call
        if self.wrapup_seconds > 0:
            self._set(agent, AgentStatus.WRAPUP, now, wrap_until=now + self.wrapup_seconds)
        else:
            self._set(agent, AgentStatus.READY, now)

    def _set(
        self,
        agent: Agent,
        status: AgentStatus,
        now: float,
        *,
        call: str | None = None,
        wrap_until: float | None = None,
        keep: bool = False,
    ) -> None:
        current = self._agents.get(agent.name, agent)
        if current.status is AgentStatus.WRAPUP and status is not AgentStatus.WRAPUP:
            self._wraps_done.append(max(0.0, now - current.since))
        since = current.since if keep and current.status is status else now
        self._agents[agent.name] = replace(
            current, status=status, since=since, call=call, wrap_until=wrap_until
        )

    def _expire(self, now: float) -> None:
        for agent in list(self._agents.values()):
            if (
                agent.status is AgentStatus.WRAPUP
                and agent.wrap_until is not None
                and not agent.paused
                and now >= agent.wrap_until
            ):
                self._set(agent, AgentStatus.READY, agent.wrap_until)


_PACER_STATE = {
    AgentStatus.READY: AgentState.READY,
    AgentStatus.RINGING: AgentState.TALKING,
    AgentStatus.TALKING: AgentState.TALKING,
    AgentStatus.WRAPUP: AgentState.WRAPUP,
    AgentStatus.PAUSED: AgentState.PAUSED,
}
