"""The dial-session loop on recorded Asterisk traffic, without a live PBX.

The PBX here replays AMI traffic recorded from the sandbox Asterisk
(tests/fixtures/ami: a call answered and talked, busy, no answer, machine,
abandoned with and without the safe-harbour message), renamed to the
ChannelId the session chose, in the order Asterisk sent it. Hopper, guard and
sink are plain in-memory implementations of the session's interfaces. What
runs for real is the session: pacing, resume and reconciliation rules, and
outcome mapping. (The same paths against the live sandbox are in tests/dialing.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dialer.agents import AgentBoard
from dialer.ami import (
    AmiActionError,
    AmiEvent,
    AmiNotConnected,
    AmiParser,
    AmiResponse,
    ConnectionChange,
)
from dialer.ami.events import QueueMember, QueueStatusMember
from dialer.pacing import Mode, Pacer, PacingConfig
from dialer.session import (
    CallObserver,
    CallResult,
    ConnectedCall,
    ConnectionHandler,
    DialSession,
    EventHandler,
    Lead,
    Reservation,
    SessionConfig,
    call_id_for,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
T = TypeVar("T")
# number -> (recording, the ChannelId used when it was recorded)
SCRIPTS = {
    "answer": ("originate_answer_agent.bin", "call-answer"),
    "busy": ("originate_busy.bin", "call-busy"),
    "noanswer": ("originate_no_answer.bin", "call-noanswer"),
    "machine": ("originate_machine.bin", "call-machine"),
    "harbour": ("originate_safe_harbour.bin", "call-harbour"),
    "hangs-up": ("originate_abandon.bin", "call-abandon"),
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


def recording(name: str) -> list[AmiEvent]:
    raw = (FIXTURES / name).read_bytes()
    return [m for m in AmiParser().feed(raw) if isinstance(m, AmiEvent)]


@dataclass
class MemoryHopper:
    ready: list[Lead]
    taken: list[Lead] = field(default_factory=list)
    dialing: set[str] = field(default_factory=set)
    finished: list[Lead] = field(default_factory=list)

    def take(self, n: int) -> list[Lead]:
        out, self.ready = self.ready[:n], self.ready[n:]
        self.taken += out
        return out

    def in_progress(self) -> list[Lead]:
        return list(self.taken)

    def mark_dialing(self, lead: Lead) -> None:
        self.dialing.add(lead.key)

    def unmark_dialing(self, lead: Lead) -> None:
        self.dialing.discard(lead.key)

    def was_dialing(self, lead: Lead) -> bool:
        return lead.key in self.dialing

    def give_back(self, lead: Lead) -> None:
        self.taken.remove(lead)
        self.ready.insert(0, lead)

    def finish(self, lead: Lead) -> None:
        if lead in self.taken:
            self.taken.remove(lead)
        self.dialing.discard(lead.key)
        self.finished.append(lead)

    def remaining(self) -> int:
        return len(self.ready)


@dataclass
class MemoryLedger:
    """Guard and sink at once: attempt ids by key, outcomes by attempt."""

    numbers: dict[str, str]  # customer -> number
    attempts: dict[str, int] = field(default_factory=dict)
    outcomes: dict[int, CallResult] = field(default_factory=dict)

    def reserve(self, lead: Lead, at: dt.datetime) -> Reservation:
        number = self.numbers.get(lead.customer_id)
        if number is None:
            return Reservation(lead, False, reason="unknown customer")
        if lead.key in self.attempts:
            attempt = self.attempts[lead.key]
            return Reservation(
                lead, True, attempt, number, replayed=True, settled=attempt in self.outcomes
            )
        self.attempts[lead.key] = len(self.attempts) + 1
        return Reservation(lead, True, self.attempts[lead.key], number)

    def record(self, result: CallResult) -> None:
        assert result.attempt_id not in self.outcomes, "an attempt got two outcomes"
        self.outcomes[result.attempt_id] = result


class RecordedPbx:
    """Answers each Originate by replaying the recording its number names."""

    def __init__(self, ongoing: dict[str, str] | None = None) -> None:
        self.connected = True
        self.dialed: list[tuple[str, str, int]] = []
        # calls a dead worker placed: still up, their events go on after a while
        self.ongoing = dict(ongoing or {})
        self.live = set(self.ongoing)
        self._events: list[EventHandler] = []
        self._changes: list[ConnectionHandler] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def add_event_handler(self, handler: EventHandler) -> None:
        self._events.append(handler)

    def add_connection_handler(self, handler: ConnectionHandler) -> None:
        self._changes.append(handler)

    async def dial(
        self, call_id: str, number: str, *, attempt_id: int, ring_timeout: float
    ) -> AmiResponse:
        if not self.connected:
            raise AmiNotConnected("not connected; action not sent")
        self.dialed.append((call_id, number, attempt_id))
        self.live.add(call_id)
        task = asyncio.create_task(self._replay(call_id, *SCRIPTS[number]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return AmiResponse(f"a{attempt_id}", True, "Originate successfully queued", ())

    async def _replay(self, call_id: str, name: str, recorded_id: str, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        renames = {recorded_id: call_id, f"{recorded_id}-far": f"{call_id}-far"}
        for event in recording(name):
            fields = tuple((k, renames.get(v, v)) for k, v in event.fields)
            await asyncio.sleep(0.01)
            for handler in self._events:
                await handler(AmiEvent(event.name, fields))
        self.live.discard(call_id)

    async def set_connected(self, up: bool, generation: int) -> None:
        self.connected = up
        for handler in self._changes:
            await handler(ConnectionChange(up, generation, "test"))

    async def live_calls(self) -> set[str]:
        for call_id, number in self.ongoing.items():
            task = asyncio.create_task(self._replay(call_id, *SCRIPTS[number], delay=0.3))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.ongoing.clear()
        return set(self.live)

    async def queue_members(self) -> list[QueueMember]:
        return [
            QueueStatusMember(
                "cadencia-test", name, f"Local/{name}@agents/n", "", 1, False, "", False, 0, 0, 0, 0
            )
            for name in ("agent1", "agent2")
        ]


def session(
    hopper: MemoryHopper,
    ledger: MemoryLedger,
    pbx: RecordedPbx,
    observer: CallObserver | None = None,
) -> DialSession:
    config = SessionConfig(
        duration_s=20,
        day=dt.date(2026, 11, 23),
        ring_timeout_s=2,
        tick_s=0.02,
        drain_s=5,
        settle_s=0.2,
    )
    pacer = Pacer(PacingConfig(mode=Mode.PROGRESSIVE))
    board = AgentBoard("cadencia-test")
    return DialSession(config, pacer, board, hopper, ledger, ledger, pbx, observer=observer)


def leads(*numbers: str) -> tuple[MemoryHopper, MemoryLedger]:
    items = [Lead(f"plan:{i}", f"C{i}") for i in range(len(numbers))]
    return MemoryHopper(items), MemoryLedger({f"C{i}": n for i, n in enumerate(numbers)})


def test_each_recorded_call_becomes_its_outcome() -> None:
    numbers = ("answer", "busy", "noanswer", "machine", "harbour", "hangs-up")
    hopper, ledger = leads(*numbers)
    pbx = RecordedPbx()
    report = run(session(hopper, ledger, pbx).run())
    got = {n: ledger.outcomes[ledger.attempts[f"plan:{i}"]] for i, n in enumerate(numbers)}
    assert {n: r.outcome for n, r in got.items()} == {
        "answer": "conversation",
        "busy": "busy",
        "noanswer": "no_answer",
        "machine": "machine",
        "harbour": "abandoned",
        "hangs-up": "abandoned",
    }
    assert got["answer"].agent == "agent2" and got["answer"].duration_s is not None
    assert got["harbour"].extra["safe_harbour"] is True
    assert got["hangs-up"].extra["safe_harbour"] is False
    assert got["machine"].extra["amd"].startswith("LONGGREETING")
    # the ChannelId of each call is derived from its attempt, and each was dialed once
    assert sorted(c for c, _, _ in pbx.dialed) == sorted(
        call_id_for(a) for a in ledger.attempts.values()
    )
    assert report.dials == 6 and report.outcomes["abandoned"] == 2
    assert hopper.taken == [] and len(hopper.finished) == 6


def test_a_resumed_job_adopts_live_calls_and_never_redials_an_unknown_one() -> None:
    hopper, ledger = leads("answer", "answer", "busy", "busy", "noanswer")
    # a previous run reserved leads 0-3 and died; 0 and 1 had been originated
    for lead in hopper.take(4):
        ledger.reserve(lead, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    hopper.mark_dialing(Lead("plan:0", "C0"))
    hopper.mark_dialing(Lead("plan:1", "C1"))
    ledger.record(CallResult(ledger.attempts["plan:3"], "busy", dt.datetime.now(dt.UTC)))
    pbx = RecordedPbx(ongoing={call_id_for(ledger.attempts["plan:0"]): "answer"})
    report = run(session(hopper, ledger, pbx).run())
    # 0 is still up: adopted, not dialed; 1 is gone: left pending, not dialed;
    # 2 was reserved but never originated: dialed now under its first attempt;
    # 3 already has its outcome; 4 is new.
    assert [n for _, n, _ in pbx.dialed] == ["busy", "noanswer"]
    assert pbx.dialed[0][2] == ledger.attempts["plan:2"]
    assert report.adopted == 1 and report.already_done == 1
    assert report.left_pending == [ledger.attempts["plan:1"]]
    assert ledger.attempts["plan:1"] not in ledger.outcomes
    # the adopted call's conversation was recorded when it ended
    assert ledger.outcomes[ledger.attempts["plan:0"]].outcome == "conversation"
    assert len(ledger.attempts) == 5 and hopper.taken == []


def test_no_call_while_ami_is_down_and_the_reserved_lead_is_dialed_once_it_is_back() -> None:
    hopper, ledger = leads("busy")
    pbx = RecordedPbx()
    pbx.connected = False

    async def scenario() -> Any:
        s = session(hopper, ledger, pbx)
        task = asyncio.create_task(s.run())
        await asyncio.sleep(0.3)
        assert pbx.dialed == []
        await pbx.set_connected(True, 2)
        return await task

    report = run(scenario())
    assert [n for _, n, _ in pbx.dialed] == ["busy"]
    assert report.reconnections == 1 and report.dials == 1
    assert [r.outcome for r in ledger.outcomes.values()] == ["busy"]


class ShuttingDownPbx(RecordedPbx):
    """Refuses every Originate the way Asterisk does while it shuts down."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = True
        self.refused = 0

    async def dial(
        self, call_id: str, number: str, *, attempt_id: int, ring_timeout: float
    ) -> AmiResponse:
        if self.stopping:
            self.refused += 1
            response = AmiResponse("x", False, "Asterisk is shutting down", ())
            raise AmiActionError("Originate", response)
        return await super().dial(call_id, number, attempt_id=attempt_id, ring_timeout=ring_timeout)


def test_an_originate_refused_while_asterisk_shuts_down_is_dialed_once_it_is_back() -> None:
    hopper, ledger = leads("busy")
    pbx = ShuttingDownPbx()

    async def scenario() -> Any:
        s = session(hopper, ledger, pbx)
        task = asyncio.create_task(s.run())
        await asyncio.sleep(0.5)
        # no call was placed: nothing recorded, the lead waits; asked again only
        # after a pause (settle_s), not in a loop
        assert 1 <= pbx.refused <= 3 and ledger.outcomes == {} and hopper.taken == []
        await pbx.set_connected(False, 1)
        pbx.stopping = False
        await pbx.set_connected(True, 2)
        return await task

    report = run(scenario())
    assert [n for _, n, _ in pbx.dialed] == ["busy"]
    assert len(ledger.attempts) == 1  # the same reservation, dialed once
    assert [r.outcome for r in ledger.outcomes.values()] == ["busy"]
    assert report.not_sent == pbx.refused and report.dials == 1


def test_a_job_rerun_after_its_slot_only_reconciles() -> None:
    hopper, ledger = leads("answer", "busy")
    for lead in hopper.take(2):
        ledger.reserve(lead, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    hopper.mark_dialing(Lead("plan:0", "C0"))
    pbx = RecordedPbx(ongoing={call_id_for(ledger.attempts["plan:0"]): "answer"})
    started = time.monotonic()
    readings = iter([started])

    def late_clock() -> float:
        # the session reads its start, then every later reading is past the slot
        return next(readings, time.monotonic() + 100.0)

    config = SessionConfig(
        duration_s=1.0, day=dt.date(2026, 11, 23), tick_s=0.02, drain_s=5, settle_s=0.2
    )
    pacer = Pacer(PacingConfig(mode=Mode.PROGRESSIVE))
    s = DialSession(
        config, pacer, AgentBoard("cadencia-test"), hopper, ledger, ledger, pbx, clock=late_clock
    )
    report = run(s.run())
    assert pbx.dialed == []  # the slot is over: nobody new is called
    assert report.adopted == 1
    assert ledger.outcomes[ledger.attempts["plan:0"]].outcome == "conversation"
    assert hopper.ready == [Lead("plan:1", "C1")] and report.leads_left == 1


def test_a_stopped_session_places_no_more_calls_and_lets_those_in_flight_finish() -> None:
    hopper, ledger = leads("answer", "busy", "noanswer", "busy", "noanswer", "answer")
    pbx = RecordedPbx()
    s = session(hopper, ledger, pbx)

    async def scenario() -> None:
        dialing = asyncio.create_task(s.run())
        while not pbx.dialed:  # the first call is up
            await asyncio.sleep(0.005)
        s.stop("lease lost: now held by another session")
        s.stop("a later reason")  # the first one is kept
        await dialing

    run(scenario())
    dialed = len(pbx.dialed)
    assert 1 <= dialed < 6  # progressive, two agents: it stopped before the end
    assert s.report.stopped == "lease lost: now held by another session"
    # every call placed got its outcome; the rest stay in the hopper, undialed
    assert sorted(ledger.outcomes) == sorted(a for _, _, a in pbx.dialed)
    assert len(hopper.ready) == 6 - dialed == s.report.leads_left


@dataclass
class HeardCalls:
    """A call observer that writes down what it is told (or fails, like a dead Redis)."""

    fail: bool = False
    heard: list[tuple[str, ConnectedCall]] = field(default_factory=list)

    def connected(self, call: ConnectedCall) -> None:
        self.heard.append(("connected", call))
        if self.fail:
            raise ConnectionError("Redis is down")

    def completed(self, call: ConnectedCall) -> None:
        self.heard.append(("completed", call))
        if self.fail:
            raise ConnectionError("Redis is down")


def test_the_observer_hears_connect_then_complete_of_each_call_an_agent_took() -> None:
    numbers = ("busy", "answer", "machine", "hangs-up", "answer")
    hopper, ledger = leads(*numbers)
    observer = HeardCalls()
    run(session(hopper, ledger, RecordedPbx(), observer).run())
    talked = {ledger.attempts["plan:1"]: "C1", ledger.attempts["plan:4"]: "C4"}
    for attempt_id, customer in talked.items():
        told = [(what, c) for what, c in observer.heard if c.attempt_id == attempt_id]
        assert [what for what, _ in told] == ["connected", "completed"]  # once each, in order
        assert {(c.agent, c.customer_id) for _, c in told} == {("agent2", customer)}
        assert all(c.at.tzinfo is not None for _, c in told)
    # nobody was told of calls no agent took (busy, machine, abandoned)
    assert {c.attempt_id for _, c in observer.heard} == set(talked)


def test_a_failing_observer_breaks_neither_dialing_nor_the_outcomes(caplog: Any) -> None:
    numbers = ("answer", "busy", "answer")
    hopper, ledger = leads(*numbers)
    observer = HeardCalls(fail=True)
    report = run(session(hopper, ledger, RecordedPbx(), observer).run())
    assert report.dials == 3
    assert [ledger.outcomes[a].outcome for a in sorted(ledger.outcomes)] == [
        "conversation",
        "busy",
        "conversation",
    ]
    assert sorted(what for what, _ in observer.heard) == ["completed"] * 2 + ["connected"] * 2
    assert "call observer failed on connected" in caplog.text
