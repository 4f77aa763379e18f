"""The abandoned-call budget: how many more abandons the rule's window allows.

The rule: abandoned calls (a person answered and no agent took the call within
the grace period, typically 2 s) may not exceed a share of live answers,
measured over a window. US telemarketing rules (47 CFR 64.1200(a)(7) for the
FCC, 16 CFR 310.4(b)(4)(i) for the FTC) put it at 3 % of calls answered by a
person, measured per campaign over a 30-day period; other regimes and many
internal policies count it over the campaign's day. Both windows are
supported; the share is configurable.

Pure: days are ``datetime.date`` values passed in by the caller (the campaign's
local day), never read from a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class RuleWindow(StrEnum):
    """Over which period the abandon share is measured."""

    CAMPAIGN_DAY = "campaign_day"
    ROLLING_DAYS = "rolling_days"


@dataclass(frozen=True)
class AbandonRule:
    """``max_rate`` of live answers may be abandoned over the window."""

    max_rate: float = 0.03
    window: RuleWindow = RuleWindow.CAMPAIGN_DAY
    window_days: int = 30  # only for ROLLING_DAYS: the window is the last N days, today included

    def __post_init__(self) -> None:
        if not 0 <= self.max_rate < 1:
            raise ValueError(f"AbandonRule.max_rate must be in [0, 1), got {self.max_rate!r}")
        if self.window_days < 1:
            raise ValueError(f"AbandonRule.window_days must be >= 1, got {self.window_days!r}")


@dataclass(frozen=True)
class DayCount:
    """Live answers and abandons counted on one day."""

    live: int = 0
    abandoned: int = 0

    def __post_init__(self) -> None:
        if self.live < 0 or self.abandoned < 0 or self.abandoned > self.live:
            raise ValueError(
                f"DayCount needs 0 <= abandoned <= live, got live={self.live}, "
                f"abandoned={self.abandoned}"
            )


class AbandonBudget:
    """Counts live answers and abandons per day and answers "how many more?".

    ``history`` seeds earlier days (from the contact ledger) so that a rolling
    window starts with the real past, not with an empty slate.
    """

    def __init__(self, rule: AbandonRule, history: Mapping[dt.date, DayCount] | None = None):
        self.rule = rule
        self._days: dict[dt.date, DayCount] = dict(history or {})

    def record(self, day: dt.date, *, abandoned: bool) -> None:
        """Count one live answer on ``day``; ``abandoned`` if no agent took it in time."""
        c = self._days.get(day, DayCount())
        self._days[day] = DayCount(c.live + 1, c.abandoned + int(abandoned))

    def window_counts(self, day: dt.date) -> DayCount:
        """Live answers and abandons inside the rule's window ending on ``day``."""
        if self.rule.window is RuleWindow.CAMPAIGN_DAY:
            return self._days.get(day, DayCount())
        first = day - dt.timedelta(days=self.rule.window_days - 1)
        live = abandoned = 0
        for d, c in self._days.items():
            if first <= d <= day:
                live += c.live
                abandoned += c.abandoned
        return DayCount(live, abandoned)

    def remaining(self, day: dt.date) -> float:
        """Abandons still allowed right now: ``max_rate * live - abandoned`` in the window.

        This counts only answers already made: abandoning against answers that
        might come later would bet on the rest of the day going as planned.
        """
        c = self.window_counts(day)
        return self.rule.max_rate * c.live - c.abandoned

    def rate(self, day: dt.date) -> float:
        """Abandon share of live answers in the window (0 when nothing was answered)."""
        c = self.window_counts(day)
        return c.abandoned / c.live if c.live else 0.0

    def day_counts(self) -> dict[dt.date, DayCount]:
        """A copy of the per-day counts."""
        return dict(self._days)
