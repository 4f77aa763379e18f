"""The one clock every Cadencia process reads: the wall clock, or a compressed day.

``make demo`` and the end-to-end tests run a campaign day in minutes: the
simulated instant advances ``factor`` times faster than real time from a
shared origin, so the guard judges contact hours by the simulated time while
RQ schedules jobs in real time. Configured once per process from
``CADENCIA_SIM_CLOCK=<simulated start ISO 8601>,<real start unix seconds>,<factor>``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass


class ClockError(ValueError):
    """CADENCIA_SIM_CLOCK is malformed; the message says how."""


@dataclass(frozen=True)
class Clock:
    """Wall time when ``sim_start`` is None; else a day compressed by ``factor``."""

    sim_start: dt.datetime | None = None
    real_start: float = 0.0
    factor: float = 1.0

    def now(self) -> dt.datetime:
        """The current (possibly simulated) instant, aware, UTC."""
        real = time.time()
        if self.sim_start is None:
            return dt.datetime.fromtimestamp(real, dt.UTC)
        return self.sim_start + dt.timedelta(seconds=(real - self.real_start) * self.factor)

    def to_real(self, instant: dt.datetime) -> dt.datetime:
        """The real instant at which the clock will read ``instant`` (for schedulers)."""
        if self.sim_start is None:
            return instant
        seconds = (instant - self.sim_start).total_seconds() / self.factor
        return dt.datetime.fromtimestamp(self.real_start + seconds, dt.UTC)

    def real_seconds(self, simulated_seconds: float) -> float:
        """How long ``simulated_seconds`` of this clock last in real time."""
        return simulated_seconds / self.factor

    def to_env(self) -> str:
        """The ``CADENCIA_SIM_CLOCK`` value that recreates this clock in another process."""
        if self.sim_start is None:
            return ""
        return f"{self.sim_start.isoformat()},{self.real_start},{self.factor}"

    @classmethod
    def compressed(cls, sim_start: dt.datetime, factor: float) -> Clock:
        """A clock that reads ``sim_start`` now and runs ``factor`` times faster."""
        if sim_start.tzinfo is None or factor <= 0:
            raise ClockError("a compressed clock needs an aware start and a factor > 0")
        return cls(sim_start.astimezone(dt.UTC), time.time(), factor)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Clock:
        """The clock ``CADENCIA_SIM_CLOCK`` describes, or the wall clock when unset."""
        value = (os.environ if env is None else env).get("CADENCIA_SIM_CLOCK", "").strip()
        if not value:
            return cls()
        try:
            start, real, factor = value.split(",")
            sim_start = dt.datetime.fromisoformat(start)
            clock = cls(sim_start.astimezone(dt.UTC), float(real), float(factor))
        except ValueError as exc:
            raise ClockError(
                f"CADENCIA_SIM_CLOCK={value!r}: expected "
                f"'<ISO start>,<unix seconds>,<factor>' ({exc})"
            ) from None
        if sim_start.tzinfo is None or clock.factor <= 0:
            raise ClockError(f"CADENCIA_SIM_CLOCK={value!r}: start needs an offset, factor > 0")
        return clock
