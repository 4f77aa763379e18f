"""Discrete-event simulation of a call center driven by the real pacing code.

The same ``Pacer`` (or the VICIdial baseline) that runs against Asterisk is
called here once per tick with a snapshot built from simulated agents and
calls, and is fed the same outcomes it would get from the AMI events. The
synthetic world: each dialed call is a live answer, an answering machine
(resolved when AMD decides), busy, or rings to the no-answer timeout; a live
answer goes to the longest-idle free agent, waits up to the grace period for
one, or is abandoned (the safe-harbour message plays). Agents talk for a
log-normal time, then wrap up, then are ready again.

Deterministic for a given seed (``random.Random``; event ties broken by a
sequence number). Used by ``bench/dialer_pacing.py`` and by campaign managers'
what-if (``agents_for_plan``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from dialer.estimators import CallOutcome
from dialer.pacing import AgentState, AgentView, Decision, Mode, PacingSnapshot


@dataclass(frozen=True)
class Scenario:
    """A synthetic call center and list. Times in seconds."""

    agents: int = 50
    hours: float = 8.0
    live_rate: float = 0.25
    machine_rate: float = 0.15
    busy_rate: float = 0.10
    ring_seconds: tuple[float, float] = (5.0, 25.0)  # until a person or a machine answers
    busy_seconds: tuple[float, float] = (2.0, 6.0)
    no_answer_timeout: float = 30.0
    amd_seconds: float = 2.5
    talk_mean: float = 180.0
    talk_cv: float = 0.6
    wrap_seconds: float = 30.0
    grace_seconds: float = 2.0  # a live answer with no agent within this is abandoned
    tick_seconds: float = 1.0  # how often the pacing loop runs
    shift_start: float = 9 * 3600.0  # local time of day when the shift starts

    def __post_init__(self) -> None:
        rates = (self.live_rate, self.machine_rate, self.busy_rate)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError(f"Scenario rates must be >= 0 and sum to <= 1, got {rates}")
        if self.agents < 1 or self.hours <= 0:
            raise ValueError(
                f"Scenario needs agents >= 1 and hours > 0: {self.agents}, {self.hours}"
            )
        lo, hi = self.ring_seconds
        if not 0 <= lo <= hi < self.no_answer_timeout:
            raise ValueError(
                f"Scenario.ring_seconds must lie below the timeout: {self.ring_seconds}"
            )
        if self.talk_mean <= 0 or self.talk_cv < 0 or self.wrap_seconds < 0:
            raise ValueError("Scenario talk_mean must be > 0, talk_cv and wrap_seconds >= 0")
        if self.tick_seconds <= 0 or self.grace_seconds < 0:
            raise ValueError("Scenario tick_seconds must be > 0 and grace_seconds >= 0")

    @property
    def no_idle_limit(self) -> float:
        """Talk minutes per agent-hour if agents never wait: 60 * talk / (talk + wrap)."""
        return 60.0 * self.talk_mean / (self.talk_mean + self.wrap_seconds)


class Policy(Protocol):
    """What the simulator needs from a pacing policy (``Pacer`` and ``VicidialAdaptive``)."""

    def decide(self, snapshot: PacingSnapshot) -> Decision: ...

    def record_call_resolved(self, outcome: CallOutcome, seconds_from_originate: float) -> None: ...

    def record_live_answer(self, day: dt.date, *, abandoned: bool) -> None: ...

    def record_talk(self, seconds: float) -> None: ...

    def record_wrap(self, seconds: float) -> None: ...


class Final(IntEnum):
    """Where each dialed call ends: exactly one of these."""

    CONNECTED = 0
    ABANDONED = 1
    MACHINE = 2
    BUSY = 3
    NO_ANSWER = 4


class _Ev(IntEnum):
    RESOLVE = 0
    WRAP_END = 1
    TALK_END = 2
    ABANDON = 3
    TICK = 4


@dataclass(frozen=True)
class Conversation:
    """One agent-call pairing (kept when ``trace`` is on, for invariant checks)."""

    agent: int
    call: int
    answered: float
    start: float
    end: float


@dataclass
class DayResult:
    """Figures of one simulated day."""

    day: dt.date
    agents: int
    hours: float
    dials: int = 0
    outcomes: Counter[Final] = field(default_factory=Counter)
    live: int = 0
    abandoned: int = 0
    talk_seconds: float = 0.0  # inside the shift
    hard_stop_ticks: int = 0
    ticks: int = 0
    abandons_with_free_agent: int = 0  # must stay 0: the abandon rule was applied wrongly
    conversations: list[Conversation] = field(default_factory=list)

    @property
    def abandon_rate(self) -> float:
        """Abandoned share of live answers."""
        return self.abandoned / self.live if self.live else 0.0

    @property
    def talk_minutes_per_agent_hour(self) -> float:
        """Average talk minutes per agent per hour of shift."""
        return self.talk_seconds / 60.0 / (self.agents * self.hours)

    @property
    def calls_per_hour(self) -> float:
        """Dials per hour."""
        return self.dials / self.hours


class _Day:
    """One day's event loop; the policy object persists across days."""

    def __init__(
        self, sc: Scenario, policy: Policy, rng: random.Random, day: dt.date, t0: float, trace: bool
    ) -> None:
        self.sc, self.policy, self.rng, self.day, self.t0 = sc, policy, rng, day, t0
        self.end = t0 + sc.hours * 3600.0
        self.trace = trace
        n = sc.agents
        self.state = [AgentState.READY] * n
        self.since = [t0] * n
        self.talk_start = [0.0] * n
        self.answered_at = [0.0] * n
        self.call_of = [-1] * n
        self.ringing: dict[int, float] = {}  # call id -> originate time
        self.planned: dict[int, tuple[Final, float]] = {}
        self.queue: deque[tuple[int, float]] = deque()  # waiting live answers
        self.final: dict[int, Final] = {}
        self.events: list[tuple[float, int, _Ev, int]] = []
        self.seq = 0
        self.next_call = 0
        self.res = DayResult(day, n, sc.hours)
        s2 = math.log1p(sc.talk_cv**2)
        self.talk_mu, self.talk_sigma = math.log(sc.talk_mean) - s2 / 2, math.sqrt(s2)

    def push(self, t: float, kind: _Ev, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, ref))

    def run(self) -> DayResult:
        self.push(self.t0, _Ev.TICK, 0)
        while self.events:
            t, _, kind, ref = heapq.heappop(self.events)
            if kind is _Ev.TICK:
                self.tick(t)
            elif kind is _Ev.RESOLVE:
                self.resolve(t, ref)
            elif kind is _Ev.ABANDON:
                self.abandon(t, ref)
            elif kind is _Ev.TALK_END:
                self.talk_end(t, ref)
            else:
                self.wrap_end(t, ref)
        if self.ringing or self.queue or len(self.final) != self.res.dials:
            raise AssertionError("simulation ended with calls unresolved")
        return self.res

    def snapshot(self, t: float) -> PacingSnapshot:
        agents = [AgentView(s, t - since) for s, since in zip(self.state, self.since, strict=True)]
        return PacingSnapshot(
            now=t,
            day=self.day,
            agents=agents,
            ringing=[t - t0 for t0 in self.ringing.values()],
            waiting_live=len(self.queue),
            time_of_day=self.sc.shift_start + (t - self.t0),
            window_seconds_left=self.end - t,
        )

    def tick(self, t: float) -> None:
        decision = self.policy.decide(self.snapshot(t))
        self.res.ticks += 1
        if decision.mode is Mode.PROGRESSIVE and decision.reason.startswith("hard stop"):
            self.res.hard_stop_ticks += 1
        for _ in range(decision.calls):
            self.originate(t)
        if t + self.sc.tick_seconds < self.end:
            self.push(t + self.sc.tick_seconds, _Ev.TICK, 0)

    def originate(self, t: float) -> None:
        sc, rng = self.sc, self.rng
        cid = self.next_call
        self.next_call += 1
        self.res.dials += 1
        u = rng.random()
        ring = rng.uniform(*sc.ring_seconds)
        if u < sc.live_rate:
            plan = (Final.CONNECTED, ring)  # CONNECTED or ABANDONED is settled at answer
        elif u < sc.live_rate + sc.machine_rate:
            plan = (Final.MACHINE, ring + sc.amd_seconds)
        elif u < sc.live_rate + sc.machine_rate + sc.busy_rate:
            plan = (Final.BUSY, rng.uniform(*sc.busy_seconds))
        else:
            plan = (Final.NO_ANSWER, sc.no_answer_timeout)
        self.ringing[cid] = t
        self.planned[cid] = plan
        self.push(t + plan[1], _Ev.RESOLVE, cid)

    def settle(self, cid: int, how: Final) -> None:
        if cid in self.final:
            raise AssertionError(f"call {cid} got a second outcome {how.name}")
        self.final[cid] = how
        self.res.outcomes[how] += 1

    def resolve(self, t: float, cid: int) -> None:
        t_orig = self.ringing.pop(cid)
        how, _ = self.planned.pop(cid)
        if how is Final.CONNECTED:
            self.policy.record_call_resolved(CallOutcome.LIVE, t - t_orig)
            self.res.live += 1
            free = self.free_agent()
            if free >= 0:
                self.connect(t, cid, free, t)
            else:
                self.queue.append((cid, t))
                self.push(t + self.sc.grace_seconds, _Ev.ABANDON, cid)
            return
        outcome = {
            Final.MACHINE: CallOutcome.MACHINE,
            Final.BUSY: CallOutcome.BUSY,
            Final.NO_ANSWER: CallOutcome.NO_ANSWER,
        }[how]
        self.policy.record_call_resolved(outcome, t - t_orig)
        self.settle(cid, how)

    def free_agent(self) -> int:
        best, best_since = -1, math.inf
        for i, s in enumerate(self.state):
            if s is AgentState.READY and self.since[i] < best_since:
                best, best_since = i, self.since[i]
        return best

    def connect(self, t: float, cid: int, agent: int, answered: float) -> None:
        if self.state[agent] is not AgentState.READY or self.call_of[agent] != -1:
            raise AssertionError(f"agent {agent} given call {cid} while busy")
        self.state[agent], self.since[agent] = AgentState.TALKING, t
        self.call_of[agent], self.talk_start[agent], self.answered_at[agent] = cid, t, answered
        self.settle(cid, Final.CONNECTED)
        self.policy.record_live_answer(self.day, abandoned=False)
        talk = self.rng.lognormvariate(self.talk_mu, self.talk_sigma)
        self.push(t + talk, _Ev.TALK_END, agent)

    def abandon(self, t: float, cid: int) -> None:
        for i, (qcid, _) in enumerate(self.queue):
            if qcid == cid:
                del self.queue[i]
                break
        else:
            return  # an agent took it within the grace period
        if self.free_agent() >= 0:
            self.res.abandons_with_free_agent += 1
        self.settle(cid, Final.ABANDONED)
        self.res.abandoned += 1
        self.policy.record_live_answer(self.day, abandoned=True)

    def talk_end(self, t: float, agent: int) -> None:
        start = self.talk_start[agent]
        self.res.talk_seconds += max(0.0, min(t, self.end) - start)
        if self.trace:
            self.res.conversations.append(
                Conversation(agent, self.call_of[agent], self.answered_at[agent], start, t)
            )
        self.policy.record_talk(t - start)
        self.call_of[agent] = -1
        self.state[agent], self.since[agent] = AgentState.WRAPUP, t
        self.push(t + self.sc.wrap_seconds, _Ev.WRAP_END, agent)

    def wrap_end(self, t: float, agent: int) -> None:
        self.policy.record_wrap(t - self.since[agent])
        self.state[agent], self.since[agent] = AgentState.READY, t
        if self.queue:
            cid, answered = self.queue.popleft()
            self.connect(t, cid, agent, answered)


@dataclass
class SimulationResult:
    """All simulated days plus totals over them."""

    scenario: Scenario
    days: list[DayResult]

    @property
    def abandon_rate(self) -> float:
        """Abandoned share of live answers over all days."""
        live = sum(d.live for d in self.days)
        return sum(d.abandoned for d in self.days) / live if live else 0.0

    @property
    def max_daily_abandon_rate(self) -> float:
        """The worst single day's abandoned share."""
        return max(d.abandon_rate for d in self.days)

    @property
    def talk_minutes_per_agent_hour(self) -> float:
        """Talk minutes per agent-hour over all days."""
        return sum(d.talk_minutes_per_agent_hour for d in self.days) / len(self.days)

    @property
    def calls_per_hour(self) -> float:
        """Dials per hour over all days."""
        return sum(d.calls_per_hour for d in self.days) / len(self.days)


def simulate(
    scenario: Scenario,
    policy: Policy,
    *,
    days: int = 1,
    seed: int = 0,
    first_day: dt.date = dt.date(2026, 1, 5),
    trace: bool = False,
) -> SimulationResult:
    """Run ``days`` shifts of ``scenario`` with ``policy`` (which keeps learning across days)."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    rng = random.Random(seed)
    out = []
    for i in range(days):
        t0 = i * 86400.0
        out.append(_Day(scenario, policy, rng, first_day + dt.timedelta(days=i), t0, trace).run())
    return SimulationResult(scenario, out)


@dataclass(frozen=True)
class WhatIf:
    """Answer to "how many agents for this plan?"."""

    agents: int
    connects: int  # live answers connected to agents in the simulated slot
    abandon_rate: float
    talk_minutes_per_agent_hour: float


def agents_for_plan(
    scenario: Scenario,
    connects_needed: int,
    make_policy: Callable[[], Policy],
    *,
    seed: int = 0,
    max_agents: int = 1000,
) -> WhatIf:
    """Fewest agents whose simulated shift (``scenario.hours``) connects ``connects_needed`` calls.

    ``make_policy`` builds a fresh policy per trial (e.g. a predictive Pacer).
    Doubles, then bisects, the agent count; each trial is a full simulation
    with the same seed. Raises ``ValueError`` if even ``max_agents`` do not suffice.
    """
    if connects_needed < 1:
        raise ValueError(f"connects_needed must be >= 1, got {connects_needed}")

    def trial(n: int) -> WhatIf:
        sc = dataclasses.replace(scenario, agents=n)
        r = simulate(sc, make_policy(), seed=seed)
        d = r.days[0]
        return WhatIf(n, d.outcomes[Final.CONNECTED], d.abandon_rate, d.talk_minutes_per_agent_hour)

    # Connects grow about linearly with agents: double until enough, then bisect.
    lo, hi = 0, 1
    best = trial(hi)
    while best.connects < connects_needed:
        if hi >= max_agents:
            raise ValueError(
                f"{max_agents} agents connect only {best.connects} calls, "
                f"fewer than {connects_needed}"
            )
        lo, hi = hi, min(max_agents, hi * 2)
        best = trial(hi)
    while hi - lo > 1:  # lo falls short (or is zero), hi suffices
        mid = (lo + hi) // 2
        r = trial(mid)
        if r.connects >= connects_needed:
            hi, best = mid, r
        else:
            lo = mid
    return best
