"""Pacing: how many calls to originate now.

Pure: the caller passes a snapshot (agents' states, calls in flight, the time
and the campaign's day) and reports outcomes; nothing here reads a clock or
does I/O. The model is documented in ``docs/pacing.md``; in short:

* **preview**: never dials by itself (the agent asks for each call).
* **progressive**: one call per free agent not already covered by a call in
  flight, so every live answer finds an agent (cannot abandon).
* **predictive**: predicts, second by second over the next ``horizon``
  seconds, how many agents will be free (ready agents, agents in wrap-up, and
  agents whose talk time so far says they are about to finish, from the
  learned handle-time distribution) and how many calls already out will be
  answered by a person (learned live-answer rate and ring-time distribution,
  conditioned on how long each call has rung). It then adds calls one at a
  time while the next call's probability of being abandoned, if answered,
  stays below a threshold. A feedback controller moves that threshold so the
  realised abandon share tracks the target; a hard stop falls back to
  progressive when the rule's abandon budget is spent.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from dialer.abandon_budget import AbandonBudget, AbandonRule
from dialer.estimators import AnswerModel, CallOutcome, DurationModel, FloatArray
from dialer.shortfall import expected_shortfall, normal_cdf, risks_exact, risks_normal

__all__ = [
    "AgentState",
    "AgentView",
    "Decision",
    "Mode",
    "Pacer",
    "PacingConfig",
    "PacingPriors",
    "PacingSnapshot",
    "normal_cdf",
    "progressive_calls",
]


class Mode(StrEnum):
    """Dialing mode of a campaign."""

    PREDICTIVE = "predictive"
    PROGRESSIVE = "progressive"
    PREVIEW = "preview"


class AgentState(StrEnum):
    """What the pacer needs to know of an agent (the agent board maps onto this).

    An agent being rung by the queue for a call counts as TALKING from 0 s.
    """

    READY = "ready"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"


@dataclass(frozen=True)
class AgentView:
    """One logged-in agent: state and seconds spent in it so far."""

    state: AgentState
    seconds_in_state: float = 0.0


@dataclass(frozen=True)
class PacingSnapshot:
    """Everything the pacer looks at for one decision.

    ``ringing`` holds, for each originated call not yet resolved (ringing or
    in AMD), the seconds since it was originated. ``waiting_live`` counts calls
    answered by a person and waiting in the queue for an agent.
    ``time_of_day`` is the campaign's local time in seconds since midnight
    (only the VICIdial baseline's tapered mode uses it). ``window_seconds_left``
    is the time until the rule's window closes (the end of the campaign's day
    for a daily rule; None for a rolling window): near the end there is no
    time left to earn back an overshoot, so the pacer keeps more budget in hand.
    """

    now: float
    day: dt.date
    agents: Sequence[AgentView]
    ringing: Sequence[float] = ()
    waiting_live: int = 0
    time_of_day: float = 0.0
    window_seconds_left: float | None = None  # until the rule's window closes, if it does

    def count(self, state: AgentState) -> int:
        """Number of agents in ``state``."""
        return sum(1 for a in self.agents if a.state is state)


@dataclass(frozen=True)
class Decision:
    """How many calls to originate now, and why."""

    calls: int
    mode: Mode  # the mode actually used (PROGRESSIVE when the hard stop is on)
    reason: str
    threshold: float = 0.0  # controller's ceiling on the marginal call's abandon risk
    marginal_abandon: float = 0.0  # predicted abandon risk of the last call added
    budget_left: float = 0.0  # abandons still allowed in the rule's window


@dataclass(frozen=True)
class PacingPriors:
    """What the pacer assumes before it has seen the campaign's own calls."""

    live_rate: float = 0.25
    ring_seconds: tuple[float, float] = (4.0, 25.0)
    no_answer_timeout: float = 30.0
    talk_mean: float = 180.0
    talk_cv: float = 0.6
    wrap_mean: float = 30.0
    wrap_cv: float = 0.0


@dataclass(frozen=True)
class PacingConfig:
    """Campaign pacing settings."""

    mode: Mode = Mode.PREDICTIVE
    rule: AbandonRule = field(default_factory=AbandonRule)
    grace_seconds: float = 2.0  # a live answer waits this long for an agent, then is abandoned
    horizon_seconds: int = 40  # must cover the longest ring to a live answer
    setpoint_margin: float = 0.1  # long-run aim: (1 - margin) * max_rate
    controller_gain: float = 0.05  # integral gain: change of log(base threshold) per live answer
    slack_gain: float = 0.2  # proportional gain: change of log(threshold) per abandon of slack
    slack_reference: float = 8.0  # abandons of budget the controller tries to keep in hand
    slack_cap: float = 14.0  # slack beyond this does not loosen the threshold further
    initial_threshold: float = 0.05
    min_threshold: float = 0.002
    max_threshold: float = 0.45
    # Predictive dialing waits until the campaign's own data has outweighed the
    # priors: a prior that is off (say, wrap-up 20 s when it is 30 s) makes the
    # model over-dial in bursts, and the daily budget then stays spent for hours.
    warmup_calls: int = 150
    warmup_handles: int = 20
    # In the last endgame_seconds of a closing window, the hard stop keeps up to
    # endgame_cushion more abandons in hand: a late burst cannot be earned back.
    endgame_seconds: float = 1800.0
    endgame_cushion: float = 3.0
    # Early in a closing window (more than two endgames left), the pacer may
    # owe up to advance_abandons, repaid from the answers the rest of the day
    # will bring (counted at half of what the agents logged in could take, and
    # only as far as they would also repay a burst the size of the cushion).
    advance_abandons: float = 2.0
    max_lines: int | None = None  # trunk capacity: calls in flight never exceed this
    max_calls_per_decision: int = 200
    # Up to this many busy agents plus calls in flight, risks use the exact
    # Poisson-binomial law; beyond, the normal approximation (accurate there).
    exact_up_to: int = 60
    priors: PacingPriors = field(default_factory=PacingPriors)

    def __post_init__(self) -> None:
        if self.grace_seconds < 0:
            raise ValueError(f"PacingConfig.grace_seconds must be >= 0, got {self.grace_seconds}")
        if self.horizon_seconds < 5:
            raise ValueError(f"PacingConfig.horizon_seconds must be >= 5: {self.horizon_seconds}")
        if not 0 <= self.setpoint_margin < 1:
            raise ValueError(
                f"PacingConfig.setpoint_margin must be in [0, 1): {self.setpoint_margin}"
            )
        if not 0 < self.min_threshold <= self.initial_threshold <= self.max_threshold < 1:
            raise ValueError("PacingConfig needs 0 < min <= initial <= max threshold < 1")
        if self.max_lines is not None and self.max_lines < 1:
            raise ValueError(f"PacingConfig.max_lines must be >= 1, got {self.max_lines}")


def progressive_calls(snapshot: PacingSnapshot) -> int:
    """One call per free agent not already covered by a call in flight or a waiting caller."""
    free = snapshot.count(AgentState.READY)
    return max(0, free - len(snapshot.ringing) - snapshot.waiting_live)


class Pacer:
    """The pacing policy of one campaign; keeps its learned state between decisions.

    Feed it outcomes (``record_*``) as they happen and ask ``decide`` about once
    a second. ``budget`` holds the rule's window; seed it from the ledger.
    """

    def __init__(self, config: PacingConfig, budget: AbandonBudget | None = None) -> None:
        self.config = config
        self.budget = budget if budget is not None else AbandonBudget(config.rule)
        pr = config.priors
        self.answers = AnswerModel(
            prior_live_rate=pr.live_rate,
            prior_ring_seconds=pr.ring_seconds,
            prior_timeout_seconds=pr.no_answer_timeout,
        )
        self.talk = DurationModel(pr.talk_mean, pr.talk_cv)
        self.wrap = DurationModel(
            pr.wrap_mean, pr.wrap_cv, max_seconds=max(600, int(4 * pr.wrap_mean))
        )
        self.base_threshold = config.initial_threshold
        self.threshold = config.initial_threshold
        self._predictive_active = False
        self._toeplitz: tuple[int, FloatArray] | None = None

    # ---- learned state, carried between dial sessions ------------------
    STATE_VERSION = 1

    def export_state(self) -> dict[str, object]:
        """What the pacer learned (estimators and controller), as JSON-able data.

        A dial session lasts one slot; the next one restores this instead of
        going through warm-up again from the priors.
        """
        return {
            "version": self.STATE_VERSION,
            "answers": self.answers.state(),
            "talk": self.talk.state(),
            "wrap": self.wrap.state(),
            "base_threshold": self.base_threshold,
        }

    def restore_state(self, state: Mapping[str, object]) -> None:
        """Load what ``export_state`` returned; raises ValueError naming a bad field."""
        if state.get("version") != self.STATE_VERSION:
            raise ValueError(f"pacer state: 'version' must be {self.STATE_VERSION}")
        parts = {}
        for key in ("answers", "talk", "wrap"):
            part = state.get(key)
            if not isinstance(part, Mapping):
                raise ValueError(f"pacer state: '{key}' must be a mapping")
            parts[key] = part
        base = state.get("base_threshold")
        if not isinstance(base, int | float) or not 0 < base < 1:
            raise ValueError("pacer state: 'base_threshold' must be a number in (0, 1)")
        self.answers.load_state(parts["answers"])
        self.talk.load_state(parts["talk"])
        self.wrap.load_state(parts["wrap"])
        self.base_threshold = self._clamp(float(base))
        self.threshold = self.base_threshold

    # ---- observations -------------------------------------------------
    def record_call_resolved(self, outcome: CallOutcome, seconds_from_originate: float) -> None:
        """A call left call progress: live answer, machine (after AMD), busy, no answer, failed."""
        self.answers.observe(outcome, seconds_from_originate)

    def record_live_answer(self, day: dt.date, *, abandoned: bool) -> None:
        """A live answer was either connected to an agent or abandoned (no agent in the grace)."""
        self.budget.record(day, abandoned=abandoned)
        # Integral action on log(base threshold): each abandon pushes it down,
        # each served answer nudges it up; in the long run the abandon share
        # settles at the setpoint. While the hard stop is on, served answers do
        # not count (the abandon-free fallback would wind the threshold up), but
        # abandons still do: they come from calls placed before the stop.
        if abandoned or self._predictive_active:
            cfg = self.config
            setpoint = cfg.rule.max_rate * (1.0 - cfg.setpoint_margin)
            err = setpoint - (1.0 if abandoned else 0.0)
            self.base_threshold = self._clamp(
                math.exp(math.log(self.base_threshold) + cfg.controller_gain * err)
            )
        self.threshold = self._threshold_for(self.budget.remaining(day))

    def _clamp(self, x: float) -> float:
        return min(self.config.max_threshold, max(self.config.min_threshold, x))

    def _threshold_for(self, slack: float) -> float:
        # Proportional action on the budget in hand: short of the reference the
        # pacer gets more careful at once, long before the hard stop would bite.
        cfg = self.config
        gap = min(slack, cfg.slack_cap) - cfg.slack_reference
        return self._clamp(self.base_threshold * math.exp(cfg.slack_gain * gap))

    def record_talk(self, seconds: float) -> None:
        """An agent finished talking after ``seconds``."""
        self.talk.observe(seconds)

    def record_wrap(self, seconds: float) -> None:
        """An agent finished wrap-up after ``seconds``."""
        self.wrap.observe(seconds)

    # ---- decision -----------------------------------------------------
    def decide(self, snapshot: PacingSnapshot) -> Decision:
        """How many calls to originate now."""
        cfg = self.config
        budget_left = self.budget.remaining(snapshot.day) + self._advance(snapshot)
        room = cfg.max_calls_per_decision
        if cfg.max_lines is not None:
            room = min(room, cfg.max_lines - len(snapshot.ringing))
        room = max(0, room)
        self._predictive_active = False
        if cfg.mode is Mode.PREVIEW:
            return Decision(0, Mode.PREVIEW, "preview: the agent asks", budget_left=budget_left)
        floor = min(room, progressive_calls(snapshot))
        if cfg.mode is Mode.PROGRESSIVE:
            return Decision(floor, Mode.PROGRESSIVE, "progressive", budget_left=budget_left)
        self.threshold = self._threshold_for(budget_left)
        if (
            self.answers.observed < cfg.warmup_calls
            or self.talk.observed < cfg.warmup_handles
            or self.wrap.observed < cfg.warmup_handles
        ):
            return Decision(
                floor,
                Mode.PROGRESSIVE,
                "warm-up: learning answer and handle times",
                threshold=self.threshold,
                budget_left=budget_left,
            )
        ready = snapshot.count(AgentState.READY)
        supply = self._supply(snapshot)
        demand = self._inflight_demand(snapshot)
        margin = ready - snapshot.waiting_live + supply.sum(axis=0) - demand.sum(axis=0)
        var = (supply * (1.0 - supply)).sum(axis=0) + (demand * (1.0 - demand)).sum(axis=0)
        reserve = 1.0 + expected_shortfall(margin, var)
        left = snapshot.window_seconds_left
        if left is not None and left < cfg.endgame_seconds:
            reserve += cfg.endgame_cushion * (1.0 - max(0.0, left) / cfg.endgame_seconds)
        if budget_left < reserve:
            return Decision(
                floor,
                Mode.PROGRESSIVE,
                "hard stop: abandon budget spent",
                threshold=self.threshold,
                budget_left=budget_left,
            )
        self._predictive_active = True
        base = ready - snapshot.waiting_live
        n, risk = self._calls_under_threshold(
            base, supply, demand, (margin, var), room, budget_left - reserve
        )
        calls = max(n, floor)
        return Decision(
            calls,
            Mode.PREDICTIVE,
            "predictive",
            threshold=self.threshold,
            marginal_abandon=risk,
            budget_left=budget_left,
        )

    def _advance(self, snapshot: PacingSnapshot) -> float:
        """Abandons the pacer may owe early in a closing window (0 otherwise).

        A daily rule counts the whole day's answers, including those still to
        come; a small advance against a cautious count of them lets predictive
        start before the first 1/max_rate answers of the day have come in. It
        is gone well before the end (see the endgame), where nothing could
        repay it.
        """
        cfg = self.config
        left = snapshot.window_seconds_left
        if left is None or left <= 2.0 * cfg.endgame_seconds:
            return 0.0
        handle = self.talk.mean() + self.wrap.mean()
        future_live = 0.5 * len(snapshot.agents) * (left - 2.0 * cfg.endgame_seconds) / handle
        # Repayable even after a burst as large as the endgame cushion.
        repayable = cfg.rule.max_rate * future_live - cfg.endgame_cushion
        return max(0.0, min(cfg.advance_abandons, repayable))

    def _grid(self) -> tuple[FloatArray, FloatArray]:
        # Second k of the horizon is the interval (k, k + 1]. Demand is counted
        # up to its end (answers in the same second count as ahead: cautious);
        # supply at its middle plus the grace, when a call answering then
        # would give up.
        h = self.config.horizon_seconds
        ends = np.arange(1, h + 1, dtype=np.float64)
        return ends, ends - 0.5 + self.config.grace_seconds

    def _supply(self, snapshot: PacingSnapshot) -> FloatArray:
        """Per busy agent (rows), the probability of being free by each supply offset."""
        _, offsets = self._grid()
        probs: list[FloatArray] = [np.zeros((0, offsets.size))]
        wrap_el = np.array(
            [a.seconds_in_state for a in snapshot.agents if a.state is AgentState.WRAPUP]
        )
        if wrap_el.size:
            probs.append(self.wrap.conditional_cdf(wrap_el, offsets))
        talk_el = np.array(
            [a.seconds_in_state for a in snapshot.agents if a.state is AgentState.TALKING]
        )
        if talk_el.size:
            steps = np.arange(1, math.ceil(offsets[-1]) + 1, dtype=np.float64)
            ends = self.talk.conditional_cdf(talk_el, steps)
            end_pmf = np.diff(ends, axis=1, prepend=0.0)
            probs.append(end_pmf @ self._after_wrap(steps, offsets))
        return np.concatenate(probs, axis=0)

    def _after_wrap(self, steps: FloatArray, offsets: FloatArray) -> FloatArray:
        # T[j, k]: talk ending in second j (taken at its middle) leaves the
        # agent free by offsets[k] if wrap-up fits in between.
        if self._toeplitz is not None and self._toeplitz[0] == self.wrap.version:
            return self._toeplitz[1]
        gap = offsets[None, :] - (steps[:, None] - 0.5)
        out = self.wrap.cdf(gap)
        self._toeplitz = (self.wrap.version, out)
        return out

    def _inflight_demand(self, snapshot: PacingSnapshot) -> FloatArray:
        """Per call in flight (rows), the probability of a live answer by the end of each second."""
        ends, _ = self._grid()
        if not snapshot.ringing:
            return np.zeros((0, ends.size))
        return self.answers.live_by(np.asarray(snapshot.ringing, dtype=np.float64), ends)

    def _calls_under_threshold(
        self,
        base: int,
        supply: FloatArray,
        demand: FloatArray,
        moments: tuple[FloatArray, FloatArray],
        room: int,
        allowance: float,
    ) -> tuple[int, float]:
        """Largest n whose n-th new call has abandon risk <= threshold; and that risk.

        The m-th new call, answering live in second k, is abandoned when fewer
        agents are free by k + grace than live answers ahead of it: the
        in-flight ones, the waiting ones and the m - 1 new calls placed before
        it (``dialer.shortfall``). Exact law for small teams, normal beyond.
        """
        if room <= 0:
            return 0, 0.0
        ends, _ = self._grid()
        q_cum = self.answers.live_by(np.zeros(1), ends)[0]
        q = np.diff(np.concatenate(([0.0], q_cum)))
        p_live = float(q_cum[-1])
        if p_live <= 0:
            return 0, 0.0
        exact = supply.shape[0] + demand.shape[0] <= self.config.exact_up_to
        size = min(room, 8)
        while True:
            if exact:
                risk = risks_exact(base, supply, demand, q_cum, q, size)
            else:
                risk = risks_normal(moments[0], moments[1], q_cum, q, size)
            ok = (risk <= self.threshold) & (np.cumsum(risk * p_live) <= max(0.0, allowance))
            # risk grows with m: the first refusal ends the batch.
            bad = np.flatnonzero(~ok)
            if bad.size or size == room:
                break
            size = min(room, size * 4)
        n = int(bad[0]) if bad.size else size
        return n, float(risk[n - 1]) if n > 0 else float(risk[0])
