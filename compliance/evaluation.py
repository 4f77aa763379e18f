"""Evaluate one proposed contact against the rule packs and the debtor's history.

``evaluate`` is the contact-time guard's brain and the compliance officer's
what-if: it consults every rule of every pack and says, for each, whether the
contact is allowed and why, in one line. Fail closed: an unknown time zone, an
inconsistent history or a missing consent record refuses the contact.

Readings shared with :mod:`compliance.allowance` (documented once, here):

* Only history strictly before ``proposal.at`` is considered (the ledger of an
  audit may hold the attempt being re-evaluated and what followed it).
* Day-based windows use the debtor's local calendar; with several candidate
  zones, a window starts at the earliest local midnight among them and a
  block ends at the latest one, so every zone's reading is honoured.
* Per-debt scope: ``proposal.debt_ids`` empty means "about every debt the
  history names"; an event with no debt ids concerns every debt.
* Cease: the latest cease request holds on the proposal's channel until the
  latest consent/opt-out record there is a consent given strictly after it.
* Contact point: records (counts, lockouts, consents, opt-outs) on an unnamed
  contact point, or evaluated for a proposal without one, apply to the whole
  channel. Consent then rests on the latest consent/opt-out record of the
  channel on any contact point.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from zoneinfo import ZoneInfo

from compliance.localtime import day_start, holiday_dates, zone
from compliance.model import Event, Proposal
from compliance.packs import WEEKDAYS, Pack, Rule

_AT = attrgetter("at")
FAIL_CLOSED = "Cadencia invariant: fail closed when the guard cannot decide"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The verdict of one rule on one proposal: ``detail`` is a one-line reason.

    Frequency caps also give ``count`` (already counted in the window, for the
    strictest debt) and ``limit``, which audits histogram.
    """

    rule: str
    citation: str
    ok: bool
    detail: str
    count: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Decision:
    """Allowed only if every consulted rule is ok; ``results`` lists them all."""

    allowed: bool
    results: tuple[RuleResult, ...]

    def to_dict(self) -> dict[str, object]:
        """``{"allowed": bool, "rules": [{"rule", "citation", "ok", "detail"}, ...]}``."""
        return {
            "allowed": self.allowed,
            "rules": [
                {"rule": r.rule, "citation": r.citation, "ok": r.ok, "detail": r.detail}
                for r in self.results
            ],
        }


@dataclass(frozen=True, slots=True)
class _Ctx:
    p: Proposal
    at: datetime  # p.at in UTC
    zones: tuple[tuple[str, ZoneInfo], ...]
    local_dates: tuple[date, ...]
    attempts: tuple[Event, ...]  # the past (before p.at) by kind, oldest first
    records: tuple[Event, ...]  # consents and opt-outs
    others: tuple[Event, ...]  # cease, promise, dispute
    attempt_times: tuple[datetime, ...]
    debts: tuple[str | None, ...]
    starts: dict[tuple[str, int], datetime | None]

    def attempts_since(self, start: datetime | None) -> tuple[Event, ...]:
        """Past attempts at or after ``start`` (all when None), oldest first."""
        if start is None:
            return self.attempts
        return self.attempts[bisect_left(self.attempt_times, start) :]


def _refuse(rule_id: str, detail: str) -> Decision:
    return Decision(False, (RuleResult(rule_id, FAIL_CLOSED, False, detail),))


def _concerns(e: Event, debt: str | None) -> bool:
    return debt is None or not e.debt_ids or debt in e.debt_ids


def _cp_match(e: Event, ctx: _Ctx) -> bool:
    cp = ctx.p.contact_point
    return cp is None or e.contact_point is None or e.contact_point == cp


def _latest_day_start(ctx: _Ctx, at: datetime, plus_days: int) -> datetime:
    """Latest, over the zones, start of (local date of ``at``) + ``plus_days``."""
    return max(
        day_start(tz, at.astimezone(tz).date() + timedelta(days=plus_days)) for _, tz in ctx.zones
    )


def _fmt(at: datetime, ctx: _Ctx) -> str:
    name, tz = ctx.zones[0]
    return f"{at.astimezone(tz):%Y-%m-%d %H:%M} {name}"


def _na(rule: Rule, ctx: _Ctx) -> RuleResult:
    return RuleResult(rule.id, rule.citation, True, f"does not apply to {ctx.p.channel}")


def hours_refusal(rule: Rule, name: str, tz: ZoneInfo, at: datetime) -> str | None:
    """Why ``contact_hours`` ``rule`` refuses instant ``at`` in zone ``tz``, or None.

    Windows are half-open (8:00-21:00 allows 20:59:59, refuses 21:00:00).
    """
    local = at.astimezone(tz)
    day = local.date()
    if rule.holidays and day in holiday_dates(rule.holidays, rule.subdivision, day.year):
        return f"{local:%a %Y-%m-%d %H:%M} {name} is a public holiday"
    spans = rule.hours[local.weekday()]
    if not spans:
        return f"{local:%a %Y-%m-%d %H:%M} {name}: no contact on {WEEKDAYS[local.weekday()]}"
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    if not any(start * 60 <= second < end * 60 for start, end in spans):
        allowed = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in spans)
        return f"{local:%a %Y-%m-%d %H:%M} {name} is outside {allowed}"
    return None


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _contact_hours(rule: Rule, ctx: _Ctx) -> RuleResult:
    seen = []
    for name, tz in ctx.zones:
        refusal = hours_refusal(rule, name, tz, ctx.p.at)
        if refusal is not None:
            return RuleResult(rule.id, rule.citation, False, refusal)
        seen.append(f"{ctx.p.at.astimezone(tz):%a %H:%M} {name}")
    return RuleResult(rule.id, rule.citation, True, "within hours: " + "; ".join(seen))


def _window_start(rule: Rule, ctx: _Ctx) -> datetime | None:
    if rule.window == "campaign":
        return None
    if rule.window == "calendar_week":
        return min(
            day_start(tz, d - timedelta(days=d.weekday()))
            for (_, tz), d in zip(ctx.zones, ctx.local_dates, strict=True)
        )
    back = rule.days - 1 if rule.window == "rolling_days" else 0
    return min(
        day_start(tz, d - timedelta(days=back))
        for (_, tz), d in zip(ctx.zones, ctx.local_dates, strict=True)
    )


def _frequency_cap(rule: Rule, ctx: _Ctx) -> RuleResult:
    key = (rule.window, rule.days)
    if key not in ctx.starts:
        ctx.starts[key] = _window_start(rule, ctx)
    start = ctx.starts[key]
    campaign = ctx.p.campaign if rule.window == "campaign" else None
    counted = [
        e
        for e in ctx.attempts_since(start)
        if e.channel in rule.channels
        and e.direction in rule.directions
        and e.outcome in rule.outcomes
        and (campaign is None or e.campaign == campaign)
    ]
    if start is None:
        where = f"in campaign {ctx.p.campaign}"
    elif rule.window == "rolling_days":
        where = f"in the {rule.days} local days ending today"
    else:
        where = "this local " + ("week" if rule.window == "calendar_week" else "day")
    if rule.scope == "debt":
        worst, label = -1, ""
        for debt in ctx.debts:
            n = (
                len(counted)
                if debt is None
                else sum(1 for e in counted if not e.debt_ids or debt in e.debt_ids)
            )
            if n > worst:
                worst, label = n, f"debt {debt}: " if debt is not None else ""
    else:
        if rule.scope == "contact_point":
            counted = [e for e in counted if _cp_match(e, ctx)]
        worst, label = len(counted), ""
    ok = worst < rule.max
    verdict = "room for one more" if ok else "cap reached"
    detail = f"{label}{worst} of {rule.max} counted {where}: {verdict}"
    return RuleResult(rule.id, rule.citation, ok, detail, count=worst, limit=rule.max)


def _channel_limit(rule: Rule, ctx: _Ctx) -> RuleResult:
    key = (rule.window, rule.days)
    if key not in ctx.starts:
        ctx.starts[key] = _window_start(rule, ctx)
    used = {
        e.channel
        for e in ctx.attempts_since(ctx.starts[key])
        if e.direction == "outbound" and e.channel in rule.channels
    }
    ok = len(used | {ctx.p.channel}) <= rule.max
    listed = ", ".join(sorted(used)) or "none"
    detail = f"channels used in the window: {listed}; at most {rule.max}"
    return RuleResult(rule.id, rule.citation, ok, detail)


def _cooldown(rule: Rule, ctx: _Ctx) -> RuleResult:
    # A trigger more than days + 2 ago cannot reach today, whatever the zones' offsets.
    for e in reversed(ctx.attempts_since(ctx.at - timedelta(days=rule.days + 2))):
        if (
            e.channel in rule.trigger_channels
            and e.outcome in rule.trigger_outcomes
            and e.direction in rule.trigger_directions
            and (rule.scope == "customer" or any(_concerns(e, d) for d in ctx.debts))
        ):
            free = _latest_day_start(ctx, e.at, rule.days)
            if ctx.at < free:
                return RuleResult(
                    rule.id,
                    rule.citation,
                    False,
                    f"{e.direction} {e.outcome} at {_fmt(e.at, ctx)}: no contact before "
                    f"{_fmt(free, ctx)}",
                )
    return RuleResult(rule.id, rule.citation, True, "no cooldown running")


def _min_spacing(rule: Rule, ctx: _Ctx) -> RuleResult:
    prev = [e.at for e in ctx.attempts if e.direction == "outbound" and e.channel in rule.channels]
    if not prev:
        return RuleResult(rule.id, rule.citation, True, "no earlier contact on these channels")
    last = max(prev)
    free = max(last + timedelta(days=rule.days), _latest_day_start(ctx, last, rule.days))
    ok = ctx.at >= free
    detail = f"last at {_fmt(last, ctx)}, next not before {_fmt(free, ctx)}"
    return RuleResult(rule.id, rule.citation, ok, detail)


def _latest_record(ctx: _Ctx) -> Event | None:
    records = [e for e in ctx.records if e.channel == ctx.p.channel and _cp_match(e, ctx)]
    # On a tie the refusal wins: the stricter reading of simultaneous records.
    return max(records, key=lambda e: (e.at, e.kind == "opt_out" or not e.granted), default=None)


def _refused(e: Event) -> bool:
    return e.kind == "opt_out" or not e.granted


def _consent(rule: Rule, ctx: _Ctx) -> RuleResult:
    p = ctx.p
    if p.line_type not in rule.line_types or (rule.autodialed_only and not p.autodialed):
        why = f"{p.line_type} line" + ("" if p.autodialed else ", not autodialed")
        return RuleResult(rule.id, rule.citation, True, f"no consent needed ({why})")
    last = _latest_record(ctx)
    if last is None:
        return RuleResult(rule.id, rule.citation, False, f"no consent record for {p.channel}")
    if _refused(last):
        return RuleResult(
            rule.id, rule.citation, False, f"consent withdrawn at {_fmt(last.at, ctx)}"
        )
    return RuleResult(rule.id, rule.citation, True, f"consent given at {_fmt(last.at, ctx)}")


def _opt_out(rule: Rule, ctx: _Ctx) -> RuleResult:
    last = _latest_record(ctx)
    if last is not None and _refused(last):
        point = f" ({last.contact_point})" if last.contact_point else ""
        detail = f"opted out of {ctx.p.channel}{point} at {_fmt(last.at, ctx)}"
        return RuleResult(rule.id, rule.citation, False, detail)
    return RuleResult(rule.id, rule.citation, True, f"no standing opt-out on {ctx.p.channel}")


def _cease(rule: Rule, ctx: _Ctx) -> RuleResult:
    """A cease request blocks until a consent on the proposal's channel recorded after it.

    Only a later grant lifts it: a consent given before the cease (onboarding,
    an earlier file) is what the cease withdrew, and a record at the very same
    instant does not count (the stricter reading). A later refusal on the
    channel keeps it in force.
    """
    ceases = [e.at for e in ctx.others if e.kind == "cease"]
    if not ceases:
        return RuleResult(rule.id, rule.citation, True, "no cease request")
    ceased = max(ceases)
    last = _latest_record(ctx)
    if last is not None and last.at > ceased and not _refused(last):
        detail = f"cease request at {_fmt(ceased, ctx)} lifted by consent at {_fmt(last.at, ctx)}"
        return RuleResult(rule.id, rule.citation, True, detail)
    return RuleResult(rule.id, rule.citation, False, f"cease request at {_fmt(ceased, ctx)}")


def _lockout(rule: Rule, ctx: _Ctx) -> RuleResult:
    if rule.unless_agent_guaranteed and ctx.p.agent_guaranteed:
        return RuleResult(rule.id, rule.citation, True, "lifted: a live agent is guaranteed")
    reach = timedelta(days=3) if rule.end_of_day else timedelta(hours=rule.lock_hours)
    for e in reversed(ctx.attempts_since(ctx.at - reach)):
        if e.channel in rule.channels and e.outcome in rule.trigger_outcomes and _cp_match(e, ctx):
            if rule.end_of_day:
                free = _latest_day_start(ctx, e.at, 1)
            else:
                free = e.at + timedelta(hours=rule.lock_hours)
            if ctx.at < free:
                detail = f"{e.outcome} at {_fmt(e.at, ctx)}: locked until {_fmt(free, ctx)}"
                return RuleResult(rule.id, rule.citation, False, detail)
    return RuleResult(rule.id, rule.citation, True, "no lockout running")


def _hold(rule: Rule, ctx: _Ctx) -> RuleResult:
    if rule.on == "promise":
        for e in ctx.others:
            if (
                e.kind == "promise"
                and e.until is not None
                and any(_concerns(e, d) for d in ctx.debts)
            ):
                end = max(day_start(tz, e.until + timedelta(days=1)) for _, tz in ctx.zones)
                if ctx.at < end:
                    debts = ",".join(e.debt_ids)
                    detail = f"promise to pay {debts} by {e.until} pending"
                    return RuleResult(rule.id, rule.citation, False, detail)
        return RuleResult(rule.id, rule.citation, True, "no pending promise")
    for debt in ctx.debts:
        disputes = [e for e in ctx.others if e.kind == "dispute" and _concerns(e, debt)]
        if disputes and not max(disputes, key=lambda e: e.at).resolved:
            detail = f"dispute open on debt {debt}" if debt else "dispute open"
            return RuleResult(rule.id, rule.citation, False, detail)
    return RuleResult(rule.id, rule.citation, True, "no open dispute")


_CHECKS = {
    "contact_hours": _contact_hours,
    "frequency_cap": _frequency_cap,
    "channel_limit": _channel_limit,
    "cooldown": _cooldown,
    "min_spacing": _min_spacing,
    "consent": _consent,
    "opt_out": _opt_out,
    "cease": _cease,
    "lockout": _lockout,
    "hold": _hold,
}


def _history_refusal(events: list[Event], customer: str) -> str | None:
    """Why ``events`` cannot be read as ``customer``'s ledger, or None."""
    # The fast path is one set comprehension; the loop below only names the culprit.
    try:
        if {(type(e), e.customer_id, e.at.tzinfo is None) for e in events} <= {
            (Event, customer, False)
        }:
            return None
    except AttributeError:
        pass
    for i, e in enumerate(events):
        if type(e) is not Event:
            return f"history item {i} is not an Event"
        if e.customer_id != customer:
            return f"history item {i} is for customer {e.customer_id}, not {customer}"
        if e.at.tzinfo is None:
            return f"history item {i} has no UTC offset"
    return None


def evaluate(packs: Sequence[Pack], history: Iterable[Event], proposal: Proposal) -> Decision:
    """Could ``proposal`` be made, given the customer's ``history`` and ``packs``?

    ``history`` is the customer's ledger (any order). Every rule of every pack is
    consulted and reported; the contact is allowed only if all are ok. Never
    raises on bad data: what it cannot read makes it refuse, saying why.
    """
    p = proposal
    if not isinstance(p, Proposal):
        return _refuse("input.proposal", f"not a Proposal: {type(p).__name__}")
    if p.at.tzinfo is None or p.at.utcoffset() is None:
        return _refuse("input.proposal", "proposal time has no UTC offset")
    # Ledger times are UTC (event_from_dict normalises them); comparing datetimes
    # that share their tzinfo skips the per-comparison offset lookups.
    at = p.at.astimezone(UTC)
    if not packs:
        return _refuse("input.packs", "no rule pack selected")
    if not p.timezones:
        return _refuse("input.timezones", "no candidate time zone for the debtor")
    zones = []
    for name in p.timezones:
        tz = zone(name)
        if tz is None:
            return _refuse("input.timezones", f"unknown time zone {name!r}")
        zones.append((name, tz))
    events = list(history)
    refusal = _history_refusal(events, customer=p.customer_id)
    if refusal is not None:
        return _refuse("input.history", refusal)
    past = [e for e in events if e.at < at]
    past.sort(key=_AT)
    attempts = tuple([e for e in past if e.kind == "attempt"])
    rest = [e for e in past if e.kind != "attempt"]
    debts: tuple[str | None, ...] = p.debt_ids
    if not debts:
        debts = tuple(dict.fromkeys(d for e in events for d in e.debt_ids)) or (None,)
    ctx = _Ctx(
        p=p,
        at=at,
        zones=tuple(zones),
        local_dates=tuple(p.at.astimezone(tz).date() for _, tz in zones),
        records=tuple([e for e in rest if e.kind in ("consent", "opt_out")]),
        others=tuple([e for e in rest if e.kind not in ("consent", "opt_out")]),
        attempts=attempts,
        attempt_times=tuple([e.at for e in attempts]),
        debts=debts,
        starts={},
    )
    results = tuple(
        [
            _CHECKS[rule.kind](rule, ctx) if p.channel in rule.channels else _na(rule, ctx)
            for pack in packs
            for rule in pack.rules
        ]
    )
    return Decision(all(r.ok for r in results), results)
