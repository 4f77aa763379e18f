"""``cadencia audit frequency``: how close debtors came to each frequency cap.

For every frequency-cap rule that judged an attempt in the period, and every
scope it counts in (a debt, a customer or a contact point), the highest count
reached inside the rule's window; the histogram of those peaks, per rule,
campaign and channel, shows compliance officers the headroom (or its absence).
Local days are read in the customer's first candidate time zone: this is a
report, not enforcement, which the guard does with every zone.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS
from campaigns.ledger.guard import LOOKBACK
from campaigns.ledger.history import folded_rows
from campaigns.storage.models import Customer
from compliance import Event, Rule, load_packs


def _window_start(rule: Rule, at: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    local = at.astimezone(zone).date()
    if rule.window == "campaign":
        return None
    if rule.window == "calendar_week":
        first = local - dt.timedelta(days=local.weekday())
    elif rule.window == "rolling_days":
        first = local - dt.timedelta(days=rule.days - 1)
    else:  # calendar_day
        first = local
    return dt.datetime.combine(first, dt.time(), tzinfo=zone)


def _scopes(rule: Rule, event: Event) -> Iterable[str]:
    if rule.scope == "debt":
        return [f"debt:{d}" for d in event.debt_ids] or [f"customer:{event.customer_id}"]
    if rule.scope == "contact_point":
        return [f"point:{event.contact_point or event.channel}"]
    return [f"customer:{event.customer_id}"]


def _counted(rule: Rule, event: Event) -> bool:
    return (
        event.kind == "attempt"
        and event.channel in rule.channels
        and event.direction in rule.directions
        and (event.outcome is None or event.outcome in rule.outcomes)
    )


def cap_usage(
    engine: Engine, since: dt.datetime, until: dt.datetime, *, default_packs: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Per rule × campaign × channel: histogram of peak counts per scope, against the cap."""
    rows, zones = _read_ledger(engine, since, until)
    folded = folded_rows(rows)
    events = [event for _, event in folded]
    packs_of = _packs_by_event(folded, default_packs)
    rules, caps_of = _frequency_caps(set(packs_of.values()))
    times = _counted_times(events, rules)
    peaks = _peaks(events, since, until, zones, packs_of, caps_of, times)
    return _report(peaks, rules)


# The peak count per scope, by (rule id, campaign, channel).
_Peaks = dict[tuple[str, str | None, str], dict[str, int]]


def _read_ledger(
    engine: Engine, since: dt.datetime, until: dt.datetime
) -> tuple[list[Any], dict[str, str]]:
    """The ledger rows that can count in the period, in id order; each customer's first zone.

    Rows from ``LOOKBACK`` before ``since`` are read too: a window still open
    at the period's start counts them.
    """
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.select(EVENTS)
                .where(EVENTS.c.at >= since - LOOKBACK, EVENTS.c.at < until)
                .order_by(EVENTS.c.id)
            )
        )
        zones = {
            cid: (tzs or "UTC").split(";")[0]
            for cid, tzs in conn.execute(sa.select(Customer.external_id, Customer.timezones))
        }
    return rows, zones


def _packs_by_event(
    folded: list[tuple[Any, Event]], default_packs: tuple[str, ...]
) -> dict[int, tuple[str, ...]]:
    """The packs each attempt was judged by (recorded on its row), keyed by ``id(event)``."""
    packs_of: dict[int, tuple[str, ...]] = {}
    for row, event in folded:
        recorded = json.loads(row.extra or "{}").get("packs")
        packs_of[id(event)] = tuple(recorded or default_packs)
    return packs_of


def _frequency_caps(
    pack_sets: set[tuple[str, ...]],
) -> tuple[dict[str, Rule], dict[tuple[str, ...], list[Rule]]]:
    """Every frequency-cap rule by id, and the caps of each set of packs."""
    rules: dict[str, Rule] = {}
    caps_of: dict[tuple[str, ...], list[Rule]] = {}
    for names in pack_sets:
        caps = [r for p in (load_packs(names) if names else ()) for r in p.rules]
        caps_of[names] = [r for r in caps if r.kind == "frequency_cap"]
        rules.update({r.id: r for r in caps_of[names]})
    return rules, caps_of


def _counted_times(
    events: list[Event], rules: dict[str, Rule]
) -> dict[tuple[str, str], list[dt.datetime]]:
    """Per rule and scope: the sorted times of counted events, to count any window fast."""
    times: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for event in events:
        for rule in rules.values():
            if _counted(rule, event):
                for scope in _scopes(rule, event):
                    times[(rule.id, scope)].append(event.at)
    for series in times.values():
        series.sort()
    return times


def _peaks(
    events: list[Event],
    since: dt.datetime,
    until: dt.datetime,
    zones: dict[str, str],
    packs_of: dict[int, tuple[str, ...]],
    caps_of: dict[tuple[str, ...], list[Rule]],
    times: dict[tuple[str, str], list[dt.datetime]],
) -> _Peaks:
    """The highest count each scope reached at any attempt in the period, under its own caps."""
    peaks: _Peaks = defaultdict(dict)
    for event in events:
        if not since <= event.at < until or event.kind != "attempt":
            continue
        zone = ZoneInfo(zones.get(event.customer_id, "UTC"))
        for rule in caps_of[packs_of[id(event)]]:
            if not _counted(rule, event):
                continue
            start = _window_start(rule, event.at, zone)
            for scope in _scopes(rule, event):
                series = times[(rule.id, scope)]
                upto = bisect.bisect_right(series, event.at)
                count = upto - (0 if start is None else bisect.bisect_left(series, start))
                key = (rule.id, event.campaign, event.channel)
                peaks[key][scope] = max(peaks[key].get(scope, 0), count)
    return peaks


def _report(peaks: _Peaks, rules: dict[str, Rule]) -> list[dict[str, Any]]:
    """One JSON-ready line per (rule, campaign, channel), in key order."""
    report = []
    for (rule_id, campaign, channel), by_scope in sorted(peaks.items(), key=lambda kv: str(kv[0])):
        rule = rules[rule_id]
        histogram = Counter(by_scope.values())
        report.append(
            {
                "rule": rule_id,
                "citation": rule.citation,
                "cap": rule.max,
                "scope": rule.scope,
                "campaign": campaign,
                "channel": channel,
                "scopes": len(by_scope),
                "histogram": {str(k): histogram[k] for k in sorted(histogram)},
                "at_cap": sum(n for k, n in histogram.items() if k == rule.max),
                "over_cap": sum(n for k, n in histogram.items() if k > rule.max),
            }
        )
    return report
