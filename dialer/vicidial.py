"""VICIdial's adaptive dial level, reimplemented as the peer baseline.

What is reproduced, and from where: the ``calculate_dial_level`` and
``count_agents_lines`` subroutines of VICIdial's ``bin/AST_VDadapt.pl``
(version 2.4, Matt Florell, AGPLv2; read in the public mirror
``inktel/Vicidial``) and the call-placing arithmetic of
``bin/AST_VDauto_dial.pl``. Re-expressed here, not copied:

* every second, sample the campaign's READY agents, the LIVE calls waiting
  for an agent, and the agents logged in; keep the last 15 samples;
* every 15 s: ``differential = mean(ready) - mean(waiting) + dl_diff_target``;
  ``mul = differential / mean(agents)``; the intensity setting scales it
  (``mul * (1 + intensity/100)`` when positive, ``mul * |intensity/100 - 1|``
  when negative); ``level = level * (1 + mul)``, capped at
  ``adaptive_maximum_level`` (default 3.0) and floored at 1.0;
* drop-rate checks, on statistics refreshed every 60 s: more than 20 calls in
  the last minute with more than 50 % of them dropped halves the level; and
  once more than 50 calls were placed today and drops exceed
  ``adaptive_dropped_percentage`` of today's answers, ADAPT_HARD_LIMIT sets the
  level to 1.0, ADAPT_AVERAGE halves it, ADAPT_TAPERED multiplies it by the
  share of time left before ``adaptive_latest_server_time`` (1.0 after it);
* the auto-dialer then keeps ``round(level * agents)`` calls in progress:
  it places ``goal - existing`` new calls per loop, where agents are those
  READY or INCALL (VICIdial also counts QUEUE and DONE, transient states; an
  agent in disposition, our wrap-up, is PAUSED) and existing calls are those
  SENT, RINGING, LIVE (answered, waiting for an agent) or XFER (sent into an
  agent's conference, i.e. talking).

Our reading where the source is implicit: a call talking with an agent stays
in ``vicidial_auto_calls`` as XFER until hang-up (the dead-call cleanup leaves
XFER rows' lead status alone because the agent dispositions them), so level 1.0
is exactly progressive dialing, as VICIdial users describe it. Levels are kept
as floats (VICIdial rounds them to 3 decimals).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from dialer.estimators import CallOutcome
from dialer.pacing import AgentState, Decision, Mode, PacingSnapshot


class AdaptMethod(StrEnum):
    """VICIdial's adaptive dial methods."""

    ADAPT_AVERAGE = "ADAPT_AVERAGE"
    ADAPT_HARD_LIMIT = "ADAPT_HARD_LIMIT"
    ADAPT_TAPERED = "ADAPT_TAPERED"


@dataclass(frozen=True)
class VicidialConfig:
    """VICIdial campaign settings that drive the adaptive level (VICIdial's defaults)."""

    method: AdaptMethod = AdaptMethod.ADAPT_AVERAGE
    auto_dial_level: float = 1.0  # starting level
    adaptive_dropped_percentage: float = 3.0
    adaptive_maximum_level: float = 3.0
    adaptive_intensity: float = 0.0  # -40 .. +40 in VICIdial's drop-down
    adaptive_dl_diff_target: float = 0.0
    adaptive_latest_server_time: int = 2100  # HHMM, for ADAPT_TAPERED
    available_only_ratio_tally: bool = False  # count only READY agents for the goal

    def __post_init__(self) -> None:
        if not self.auto_dial_level >= 1.0:
            raise ValueError(
                f"VicidialConfig.auto_dial_level must be >= 1, got {self.auto_dial_level}"
            )
        if self.adaptive_maximum_level < 1.0:
            raise ValueError("VicidialConfig.adaptive_maximum_level must be >= 1")
        if not 0 <= self.adaptive_dropped_percentage <= 100:
            raise ValueError("VicidialConfig.adaptive_dropped_percentage must be in [0, 100]")


class VicidialAdaptive:
    """The baseline policy; same interface as ``dialer.pacing.Pacer`` for the simulator."""

    SAMPLES = 15  # AST_VDadapt.pl averages the last 15 one-second samples
    LEVEL_EVERY = 15.0  # seconds between dial-level updates
    DROPS_EVERY = 60.0  # seconds between drop-statistics refreshes

    def __init__(self, config: VicidialConfig | None = None) -> None:
        self.config = config or VicidialConfig()
        self.level = self.config.auto_dial_level
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=self.SAMPLES)
        self._last_sample = float("-inf")
        self._last_level = float("-inf")
        self._last_drops = float("-inf")
        self._day: dt.date | None = None
        self._calls_today = 0
        self._answers_today = 0
        self._drops_today = 0
        self._recent: deque[tuple[float, bool]] = deque()  # (time, dropped) per logged call
        self._stats = (0, 0, 0, 0, 0)  # calls_today, answers, drops, calls_one, drops_one
        self._now = 0.0

    # ---- observations (what vicidial_log would hold) ------------------
    def _roll_day(self, day: dt.date) -> None:
        if day != self._day:
            self._day = day
            self._calls_today = self._answers_today = self._drops_today = 0
            self._recent.clear()
            self._stats = (0, 0, 0, 0, 0)

    def record_call_resolved(self, outcome: CallOutcome, seconds_from_originate: float) -> None:
        """Non-live outcomes are logged calls; live ones are logged at connect or drop."""
        if outcome is not CallOutcome.LIVE:
            self._calls_today += 1
            self._recent.append((self._now, False))

    def record_live_answer(self, day: dt.date, *, abandoned: bool) -> None:
        """A human-answered call (VICIdial counts DROP as human-answered)."""
        self._roll_day(day)
        self._calls_today += 1
        self._answers_today += 1
        self._drops_today += int(abandoned)
        self._recent.append((self._now, abandoned))

    def record_talk(self, seconds: float) -> None:
        """VICIdial's adaptive level does not use talk times."""

    def record_wrap(self, seconds: float) -> None:
        """VICIdial's adaptive level does not use wrap-up times."""

    # ---- the loops ----------------------------------------------------
    def _refresh_drops(self, now: float) -> None:
        while self._recent and self._recent[0][0] <= now - 60.0:
            self._recent.popleft()
        calls_one = len(self._recent)
        drops_one = sum(1 for _, d in self._recent if d)
        self._stats = (
            self._calls_today,
            self._answers_today,
            self._drops_today,
            calls_one,
            drops_one,
        )

    def _update_level(self, time_of_day: float) -> None:
        cfg = self.config
        n = len(self._samples)
        ready_avg = sum(s[0] for s in self._samples) / n
        waiting_avg = sum(s[1] for s in self._samples) / n
        agents_avg = sum(s[2] for s in self._samples) / n
        if agents_avg <= 0:
            return
        target = ready_avg - waiting_avg + cfg.adaptive_dl_diff_target
        mul = target / agents_avg if target != 0 else 0.0
        intensity = cfg.adaptive_intensity / 100.0
        imul = mul * abs(intensity - 1.0) if mul < 0 else mul * (intensity + 1.0)
        level = self.level * (1.0 + imul)
        level = min(level, cfg.adaptive_maximum_level)
        level = max(level, 1.0)
        calls_today, answers, drops, calls_one, drops_one = self._stats
        if calls_one > 20 and drops_one * 100.0 / calls_one > 50.0:
            level /= 2.0
        drop_pct = drops * 100.0 / max(answers, 1)
        if calls_today > 50 and drops > 0 and drop_pct > cfg.adaptive_dropped_percentage:
            if cfg.method is AdaptMethod.ADAPT_HARD_LIMIT:
                level = 1.0
            elif cfg.method is AdaptMethod.ADAPT_AVERAGE:
                level /= 2.0
            else:
                hhmm = int(time_of_day // 3600) * 100 + int(time_of_day % 3600 // 60)
                left = cfg.adaptive_latest_server_time - hhmm
                level = 1.0 if left < 0 else level * min(1.0, left / 1000.0)
        self.level = max(level, 1.0)

    def decide(self, snapshot: PacingSnapshot) -> Decision:
        """Run the 1 s sampling, 15 s level and 60 s drop loops as due; place calls."""
        self._now = snapshot.now
        self._roll_day(snapshot.day)
        ready = snapshot.count(AgentState.READY)
        incall = snapshot.count(AgentState.TALKING)
        logged_in = len(snapshot.agents)
        if snapshot.now - self._last_sample >= 1.0:
            self._samples.append((ready, snapshot.waiting_live, logged_in))
            self._last_sample = snapshot.now
        if snapshot.now - self._last_drops >= self.DROPS_EVERY:
            self._refresh_drops(snapshot.now)
            self._last_drops = snapshot.now
        if snapshot.now - self._last_level >= self.LEVEL_EVERY and self._samples:
            self._update_level(snapshot.time_of_day)
            self._last_level = snapshot.now
        agents = ready if self.config.available_only_ratio_tally else ready + incall
        goal = round(self.level * agents)
        existing = len(snapshot.ringing) + snapshot.waiting_live + incall
        calls = max(0, goal - existing)
        return Decision(
            calls, Mode.PREDICTIVE, f"vicidial {self.config.method} level {self.level:.3f}"
        )
