"""Local calendars: time zones, local day boundaries, public holidays.

Shared by :mod:`compliance.evaluation` and :mod:`compliance.allowance` so both
read "the debtor's day" the same way: a local date ``d`` starts at the earliest
instant whose local date is ``d`` (where midnight does not exist because of a
DST jump, the day starts at the jump).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


@cache
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name``, or None when it is unknown (callers fail closed)."""
    try:
        return ZoneInfo(name)
    # OSError: ZoneInfo opens a file named after the key, so an over-long name
    # fails in the filesystem rather than as "not found" (found by fuzzing).
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return None


@cache
def day_start(tz: ZoneInfo, d: date) -> datetime:
    """The UTC instant at which local date ``d`` begins in ``tz``."""
    # fold=0 puts a non-existent midnight at the offset before the jump, which is
    # the jump instant itself; an ambiguous midnight takes its first occurrence.
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(UTC)


@cache
def holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holidays of ``country`` (``holidays`` package codes) in ``year``."""
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(calendar.keys())


def is_holiday(country: str, subdivision: str | None, d: date) -> bool:
    """Whether ``d`` is a public holiday of ``country``."""
    return d in holiday_dates(country, subdivision, d.year)
