"""The one clock every Cadencia process reads: the wall clock, or a compressed day.

``make demo`` and the end-to-end tests run a campaign day in minutes: the
simulated instant advances ``factor`` times faster than real time from a
shared origin, so the guard judges contact hours by the simulated time while
RQ schedules jobs in real time. A day may change its compression at given
simulated instants (``changes``): a benchmark gives its busiest slot the real
time its messages need and lets the quiet ones fly by. Configured once per
process from ``CADENCIA_SIM_CLOCK=<simulated start ISO 8601>,<real start unix
seconds>,<factor>``, optionally followed by ``;<simulated ISO 8601>,<factor>``
for each change.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class ClockError(ValueError):
    """CADENCIA_SIM_CLOCK is malformed; the message says how."""


@dataclass(frozen=True)
class Clock:
    """Wall time when ``sim_start`` is None; else a day compressed by ``factor``.

    ``changes``: (simulated instant, factor from then on), in increasing order
    and after ``sim_start``; the clock is continuous across each change.
    """

    sim_start: dt.datetime | None = None
    real_start: float = 0.0
    factor: float = 1.0
    changes: tuple[tuple[dt.datetime, float], ...] = ()

    def __post_init__(self) -> None:
        if self.sim_start is None:
            return
        previous = self.sim_start
        for at, factor in self.changes:
            if at.tzinfo is None or at <= previous or factor <= 0:
                raise ClockError(
                    f"clock change at {at.isoformat()} (factor {factor}): changes need aware, "
                    f"increasing instants after {previous.isoformat()} and factors > 0"
                )
            previous = at

    def _segments(self) -> list[tuple[dt.datetime, float, float]]:
        """(simulated start, real start, factor) of each stretch of constant compression."""
        assert self.sim_start is not None
        segments = [(self.sim_start, self.real_start, self.factor)]
        for at, factor in self.changes:
            sim, real, previous = segments[-1]
            segments.append((at, real + (at - sim).total_seconds() / previous, factor))
        return segments

    def now(self) -> dt.datetime:
        """The current (possibly simulated) instant, aware, UTC."""
        real = time.time()
        if self.sim_start is None:
            return dt.datetime.fromtimestamp(real, dt.UTC)
        segments = self._segments()
        sim, start, factor = next((s for s in reversed(segments) if s[1] <= real), segments[0])
        return sim + dt.timedelta(seconds=(real - start) * factor)

    def to_real(self, instant: dt.datetime) -> dt.datetime:
        """The real instant at which the clock will read ``instant`` (for schedulers)."""
        if self.sim_start is None:
            return instant
        segments = self._segments()
        sim, start, factor = next((s for s in reversed(segments) if s[0] <= instant), segments[0])
        seconds = (instant - sim).total_seconds() / factor
        return dt.datetime.fromtimestamp(start + seconds, dt.UTC)

    def factor_at(self, instant: dt.datetime) -> float:
        """How many times faster than real time the clock runs at simulated ``instant``."""
        if self.sim_start is None:
            return 1.0
        factor = self.factor
        for at, later in self.changes:
            if at <= instant:
                factor = later
        return factor

    def real_seconds_until(self, instant: dt.datetime) -> float:
        """Real seconds from now until the clock reads ``instant`` (0 if it has)."""
        return max(0.0, self.to_real(instant).timestamp() - time.time())

    def to_env(self) -> str:
        """The ``CADENCIA_SIM_CLOCK`` value that recreates this clock in another process."""
        if self.sim_start is None:
            return ""
        head = f"{self.sim_start.isoformat()},{self.real_start},{self.factor}"
        return ";".join([head, *(f"{at.isoformat()},{f}" for at, f in self.changes)])

    @classmethod
    def compressed(
        cls,
        sim_start: dt.datetime,
        factor: float,
        changes: Sequence[tuple[dt.datetime, float]] = (),
    ) -> Clock:
        """A clock that reads ``sim_start`` now and runs ``factor`` times faster.

        Each of ``changes`` (simulated instant, factor) sets the pace from then on.
        """
        if sim_start.tzinfo is None or factor <= 0:
            raise ClockError("a compressed clock needs an aware start and a factor > 0")
        return cls(
            sim_start.astimezone(dt.UTC),
            time.time(),
            factor,
            tuple((at.astimezone(dt.UTC), f) for at, f in changes),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Clock:
        """The clock ``env["CADENCIA_SIM_CLOCK"]`` describes, or the wall clock when unset."""
        return cls.parse(env.get("CADENCIA_SIM_CLOCK"))

    @classmethod
    def parse(cls, value: str | None) -> Clock:
        """The clock a ``CADENCIA_SIM_CLOCK`` value describes (``to_env``); wall clock if empty."""
        value = (value or "").strip()
        if not value:
            return cls()
        expected = (
            "expected '<ISO start>,<unix seconds>,<factor>' then optional "
            "';<ISO instant>,<factor>' changes"
        )
        try:
            head, *rest = value.split(";")
            start, real, factor = head.split(",")
            sim_start = dt.datetime.fromisoformat(start)
            changes = []
            for part in rest:
                at, later = part.split(",")
                changes.append((dt.datetime.fromisoformat(at), float(later)))
            if sim_start.tzinfo is None or float(factor) <= 0:
                raise ClockError(f"CADENCIA_SIM_CLOCK={value!r}: start needs an offset, factor > 0")
            return cls(sim_start.astimezone(dt.UTC), float(real), float(factor), tuple(changes))
        except ClockError as exc:
            if str(exc).startswith("CADENCIA_SIM_CLOCK"):
                raise
            raise ClockError(f"CADENCIA_SIM_CLOCK={value!r}: {exc}") from None
        except ValueError as exc:
            raise ClockError(f"CADENCIA_SIM_CLOCK={value!r}: {expected} ({exc})") from None
