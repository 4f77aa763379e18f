"""The agent board: states from real recorded AMI traffic and from typed events."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.agents import AgentBoard, AgentStatus, Completed
from dialer.ami import AmiEvent, AmiParser, typed_event
from dialer.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    DeviceState,
    QueueMember,
    QueueMemberPause,
    QueueMemberStatus,
    QueueStatusMember,
)
from dialer.pacing import AgentState, AgentView

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
Q = "cadencia-test"


def recorded(name: str) -> list[AmiEvent]:
    return [m for m in AmiParser().feed((FIXTURES / name).read_bytes()) if isinstance(m, AmiEvent)]


def member(
    cls: type[QueueMember],
    name: str,
    status: DeviceState,
    *,
    paused: bool = False,
    reason: str = "",
    queue: str = Q,
) -> QueueMember:
    return cls(
        queue=queue,
        member_name=name,
        interface=f"Local/{name}@agents/n",
        state_interface=f"Custom:{name}",
        status=int(status),
        paused=paused,
        paused_reason=reason,
        in_call=False,
        calls_taken=0,
        last_call=0,
        login_time=0,
        wrapup_time=0,
    )


def test_a_recorded_call_rings_talks_and_frees_the_agent() -> None:
    board = AgentBoard(Q)
    board.resync([member(QueueStatusMember, "agent2", DeviceState.NOT_INUSE)], now=0.0)
    seen: list[tuple[str, AgentStatus]] = []
    completed: list[Completed] = []
    for i, event in enumerate(recorded("originate_answer_agent.bin")):
        typed = typed_event(event)
        if typed is None:
            continue
        done = board.apply(typed, now=float(i))
        if done is not None:
            completed.append(done)
        seen.append((event.name, board.status("agent2", float(i))))
    states = [s for _, s in seen]
    assert AgentStatus.RINGING in states and AgentStatus.TALKING in states
    assert states.index(AgentStatus.RINGING) < states.index(AgentStatus.TALKING)
    assert dict(seen)["AgentConnect"] is AgentStatus.TALKING
    assert states[-1] is AgentStatus.READY  # wrap-up time 0: ready at once
    (call,) = completed
    assert call.agent == "agent2" and call.call == "call-answer" and call.talk_seconds >= 1


def test_queue_status_after_a_reconnect_replaces_the_board() -> None:
    board = AgentBoard(Q)
    board.apply(AgentConnect(Q, "agent1", "Local/agent1@agents/n", "c1", "d1", 0, 0), now=5.0)
    assert board.status("agent1", 6.0) is AgentStatus.TALKING
    items = [typed_event(e) for e in recorded("agent_states_queue_status.bin")]
    members = [t for t in items if isinstance(t, QueueStatusMember)]
    board.resync(members, now=10.0)
    # recorded: agent1 UNAVAILABLE, agent2 NOT_INUSE and paused
    assert board.status("agent1", 10.0) is AgentStatus.LOGGED_OUT
    assert board.status("agent2", 10.0) is AgentStatus.PAUSED
    assert board.views(10.0) == [AgentView(AgentState.PAUSED, 0.0)]


def test_wrapup_time_then_ready_and_the_pacer_learns_its_length() -> None:
    board = AgentBoard(Q, wrapup_seconds=30.0)
    board.resync([member(QueueStatusMember, "a", DeviceState.NOT_INUSE)], now=0.0)
    board.apply(AgentCalled(Q, "a", "Local/a@agents/n", "c1", "x"), now=1.0)
    board.apply(AgentConnect(Q, "a", "Local/a@agents/n", "c1", "d1", 0, 1), now=2.0)
    board.apply(member(QueueMemberStatus, "a", DeviceState.INUSE), now=2.1)
    assert board.views(50.0)[0].state is AgentState.TALKING
    done = board.apply(AgentComplete(Q, "a", "Local/a@agents/n", "c1", 0, 100, "agent"), 102.0)
    assert done == Completed("a", "c1", 100.0, 0.0)
    board.apply(member(QueueMemberStatus, "a", DeviceState.NOT_INUSE), now=102.1)
    assert board.status("a", 110.0) is AgentStatus.WRAPUP
    view = board.views(110.0)[0]
    assert view.state is AgentState.WRAPUP and view.seconds_in_state == pytest.approx(8.0)
    assert board.status("a", 132.5) is AgentStatus.READY
    assert board.take_finished_wraps() == [pytest.approx(30.0)]
    assert board.take_finished_wraps() == []


def test_a_wrapup_pause_is_wrapup_and_a_break_is_paused() -> None:
    board = AgentBoard(Q)
    board.resync(
        [
            member(QueueStatusMember, "a", DeviceState.NOT_INUSE),
            member(QueueStatusMember, "b", DeviceState.NOT_INUSE),
        ],
        now=0.0,
    )
    board.apply(
        member(QueueMemberPause, "a", DeviceState.NOT_INUSE, paused=True, reason="wrapup"), 1.0
    )
    board.apply(
        member(QueueMemberPause, "b", DeviceState.NOT_INUSE, paused=True, reason="lunch"), 1.0
    )
    assert board.status("a", 2.0) is AgentStatus.WRAPUP
    assert board.status("b", 2.0) is AgentStatus.PAUSED
    board.apply(member(QueueMemberPause, "a", DeviceState.NOT_INUSE), now=4.0)
    assert board.status("a", 4.0) is AgentStatus.READY
    assert board.take_finished_wraps() == [pytest.approx(3.0)]
    assert sorted(v.state for v in board.views(5.0)) == [AgentState.PAUSED, AgentState.READY]


def test_other_queues_and_logged_out_agents_are_not_offered_to_the_pacer() -> None:
    board = AgentBoard(Q)
    board.apply(member(QueueMemberStatus, "x", DeviceState.NOT_INUSE, queue="other"), 0.0)
    board.apply(member(QueueMemberStatus, "gone", DeviceState.UNAVAILABLE), 0.0)
    board.apply(member(QueueMemberStatus, "here", DeviceState.NOT_INUSE), 0.0)
    board.apply(member(QueueMemberStatus, "ringing", DeviceState.RINGING), 0.0)
    views = board.views(3.0)
    assert sorted(v.state for v in views) == [AgentState.READY, AgentState.TALKING]
    assert "x" not in board.agents(3.0)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="queue name"):
        AgentBoard("")
    with pytest.raises(ValueError, match="wrapup_seconds"):
        AgentBoard(Q, wrapup_seconds=-1)
