"""When a debtor may next be messaged, and how long the current window stays open.

Pure functions over the packs' ``contact_hours`` rules (time passed in). The
guard says *that* a message is outside the allowed hours; these say *until
when*, so a job can reschedule it, and how long Twilio may keep it queued
(``validity_period``) so nothing goes out after the window closes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from compliance import Decision, Pack, Rule
from compliance.evaluation import hours_refusal
from compliance.localtime import zone

STEP = dt.timedelta(minutes=5)
HORIZON = dt.timedelta(days=8)
MAX_VALIDITY_S = 36_000


def hours_rules(packs: Sequence[Pack], channel: str) -> list[Rule]:
    """The ``contact_hours`` rules of ``packs`` that govern ``channel``."""
    return [
        r
        for pack in packs
        for r in pack.rules
        if r.kind == "contact_hours" and channel in r.channels
    ]


def only_hours_refused(decision: Decision, packs: Sequence[Pack], channel: str) -> bool:
    """True when every failing rule of ``decision`` is an allowed-hours rule (time will fix it)."""
    ids = {r.id for r in hours_rules(packs, channel)}
    failed = [r.rule for r in decision.results if not r.ok]
    return bool(failed) and all(rule in ids for rule in failed)


def next_allowed(
    packs: Sequence[Pack], channel: str, timezones: Sequence[str], after: dt.datetime
) -> dt.datetime | None:
    """The first instant (on a 5-minute grid) after ``after`` allowed in every zone, or None."""
    rules = hours_rules(packs, channel)
    zones = [(name, zone(name)) for name in timezones]
    if not zones or any(tz is None for _, tz in zones):
        return None
    at = (after + STEP).replace(second=0, microsecond=0)
    at -= dt.timedelta(minutes=at.minute % 5)
    end = after + HORIZON
    while at < end:
        if all(hours_refusal(r, n, tz, at) is None for r in rules for n, tz in zones if tz):
            return at
        at += STEP
    return None


def seconds_left(
    packs: Sequence[Pack], channel: str, timezones: Sequence[str], now: dt.datetime
) -> int:
    """Seconds until the current allowed window closes in the first zone to close
    (capped at Twilio's 36,000 s; at least 1)."""
    left = float(MAX_VALIDITY_S)
    for rule in hours_rules(packs, channel):
        for name in timezones:
            tz = zone(name)
            if tz is None:
                return 1
            local = now.astimezone(tz)
            second = local.hour * 3600 + local.minute * 60 + local.second
            spans = rule.hours[local.weekday()] if rule.hours else ()
            ends = [e * 60 - second for s, e in spans if s * 60 <= second < e * 60]
            left = min(left, max(ends) if ends else 1.0)
    return max(1, int(left))
