"""Allowances for one day over a whole portfolio, vectorised.

For every customer × channel: how many attempts are still allowed on day D,
and, for every one-hour slot, whether contact is allowed in it. These are the
optimizer's hard constraints; the contact-time guard (:func:`evaluate`)
checks each attempt again.

Inputs (see :mod:`compliance.frames` for the ledger columns):

``customers``
    one row per customer: ``customer_id`` (unique), ``packs`` (comma-separated
    pack names, e.g. ``"us-regf,house"``) and ``timezones`` (comma-separated
    IANA names, the candidate zones). Categorical columns are fastest.
``events`` / ``event_debts``
    the ledger before the first slot: attempts of the last weeks (enough for
    the longest window, see :func:`lookback_days`) plus every consent,
    opt-out, cease, promise and dispute row, whatever its age. Rows of
    customers not in ``customers`` are ignored; a row at or after the first
    slot is an error (a plan is made before its day).
``day``
    the planning day D, a local calendar date for every customer.
``slots``
    UTC start instants of one-hour slots.

Readings (all on the strict side, so the allowances never allow what
:func:`evaluate` would refuse at a slot's start for a proposal about all the
customer's debts, with no contact point, unknown line type, the channel's
default autodialing and no guaranteed agent):

* A slot is allowed only if every minute of it is inside local day D and
  inside the contact hours in every candidate zone.
* The customer is the unit: a contact concerns all their open debts, so a
  per-debt rule uses the customer's strictest debt (the most counted, any
  cooldown, any open dispute, any pending promise).
* Per-contact-point records apply to the whole channel (the contact point is
  chosen later; the guard rechecks it).
* Caps count every ledger row in the window, including earlier rows of day D.
  ``remaining`` is the tightest cap on the channel; a cap over several
  channels is also returned in ``shared_caps`` so the optimizer can bound the
  channels' sum. A ``min_spacing`` rule allows at most one contact on its
  channels that day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from compliance.evaluation import hours_refusal
from compliance.frames import (
    ATTEMPT,
    CEASE,
    DISPUTE,
    OPT_OUT,
    PROMISE,
    Ledger,
    Pairs,
    Portfolio,
    member,
    read_ledger,
    read_portfolio,
    utc_ns,
)
from compliance.localtime import day_start
from compliance.model import (
    AUTODIALED_BY_DEFAULT,
    CHANNELS,
    CONTACT_CHANNELS,
    OUTCOMES,
    ComplianceInputError,
)
from compliance.packs import Pack, Rule, available_packs, load_pack

UNLIMITED = int(np.iinfo(np.int32).max)
_NS_MIN = 60 * 10**9
_NS_HOUR = 60 * _NS_MIN
_NS_DAY = 24 * _NS_HOUR
_EARLIEST = int(np.iinfo(np.int64).min)
_BLOCK = 1 << 15  # rows per block of the final customers x channels x slots pass


@dataclass(frozen=True)
class SharedCap:
    """A cap over several channels: their attempts together must stay within it."""

    rule: str
    citation: str
    channels: tuple[str, ...]
    remaining: np.ndarray  # int32 per customer; UNLIMITED where the rule does not apply


@dataclass(frozen=True)
class Allowances:
    """Per customer (row order of ``customers``) × channel (× slot)."""

    customer_ids: np.ndarray
    channels: tuple[str, ...]
    slots: np.ndarray  # datetime64[ns], UTC slot starts
    remaining: np.ndarray  # int32 [customers, channels]; UNLIMITED when uncapped
    slot_allowed: np.ndarray  # bool [customers, channels, slots]
    shared_caps: tuple[SharedCap, ...]
    problems: tuple[str, ...]  # data that made customers fail closed

    def remaining_frame(self) -> pd.DataFrame:
        """Long table ``customer_id, channel, remaining, slots_allowed`` of the open cells.

        Only customer × channel cells with at least one attempt and one slot left
        appear (the optimizer's decision variables); ``remaining`` may be
        UNLIMITED when no cap applies.
        """
        rows, cols = np.nonzero(self.remaining > 0)
        names = pd.Index(list(self.channels))
        return pd.DataFrame(
            {
                "customer_id": self.customer_ids[rows],
                "channel": pd.Categorical.from_codes(cols, categories=names),
                "remaining": self.remaining[rows, cols],
                "slots_allowed": self.slot_allowed[rows, cols].sum(axis=1),
            }
        )


def _window_lookback(rule: Rule) -> int:
    return {"rolling_days": rule.days, "calendar_week": 7}.get(rule.window, 1)


def _no_attempts_read(rule: Rule) -> int:
    return 0


# Days of attempts each rule kind reads before day D, one entry per kind in
# packs.RULE_KINDS (a test keeps the tables in step): a kind left out would
# default to too short a history, and allowances would come out too generous.
_LOOKBACK: dict[str, Callable[[Rule], int]] = {
    "contact_hours": _no_attempts_read,
    "frequency_cap": _window_lookback,
    "channel_limit": _window_lookback,
    "cooldown": lambda rule: rule.days,
    "min_spacing": lambda rule: rule.days,
    "consent": _no_attempts_read,
    "opt_out": _no_attempts_read,
    "cease": _no_attempts_read,
    "lockout": lambda rule: 1 if rule.end_of_day else -(-rule.lock_hours // 24),
    "hold": _no_attempts_read,
}


def lookback_days(packs: Sequence[Pack]) -> int:
    """Days of attempts before day D that the packs' windows, cooldowns and lockouts read.

    Fetch attempts from D minus this many days (UTC, one day of margin for
    zone offsets included). Consent, opt-out, cease, promise and dispute rows
    are needed whatever their age, and a ``campaign`` window needs all of the
    campaign's attempts.
    """
    need = [1, *(_LOOKBACK[rule.kind](rule) for p in packs for rule in p.rules)]
    return max(need) + 1


def _to_ns(t: datetime) -> int:
    return int(pd.Timestamp(t).as_unit("ns").value)


def _local_day_start(tz: str, local_midnight_ns: np.ndarray) -> np.ndarray:
    """UTC instants at which the naive local dates (midnight ns) begin in ``tz``."""
    naive = pd.DatetimeIndex(local_midnight_ns.view("datetime64[ns]"))
    # First occurrence for an ambiguous midnight, the jump for a missing one:
    # the same instants localtime.day_start gives evaluate.
    aware = naive.tz_localize(
        tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
    )
    return np.asarray(aware.tz_convert("UTC").asi8, dtype=np.int64)


def _local_midnight(tz: str, utc_ns: np.ndarray) -> np.ndarray:
    idx = pd.DatetimeIndex(utc_ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
    return np.asarray(idx.tz_localize(None).normalize().asi8, dtype=np.int64)


def _latest_day_start(
    port: Portfolio,
    cust: np.ndarray,
    plus_days: int,
    *,
    utc_ns: np.ndarray | None = None,
    local_date_ns: np.ndarray | None = None,
) -> np.ndarray:
    """Per row, the latest start over the customer's zones of a local date + ``plus_days``.

    The date is the local date of ``utc_ns`` in each zone, or ``local_date_ns``
    (naive midnights, e.g. a promise's date) read in every zone.
    """
    out = np.full(len(cust), _EARLIEST, dtype=np.int64)
    for tz, has in port.has_zone.items():
        sel = has[cust]
        if not sel.any():
            continue
        if local_date_ns is not None:
            midnight = local_date_ns[sel]
        else:
            assert utc_ns is not None
            midnight = _local_midnight(tz, utc_ns[sel])
        starts = _local_day_start(tz, midnight + plus_days * _NS_DAY)
        out[sel] = np.maximum(out[sel], starts)
    return out


def _last_per_customer(n: int, cust: np.ndarray, at: np.ndarray) -> np.ndarray:
    last = np.full(n, _EARLIEST, dtype=np.int64)
    np.maximum.at(last, cust, at)
    return last


def _slot_hours(
    rules: tuple[Rule, ...] | None,
    zones: tuple[tuple[str, ZoneInfo], ...] | None,
    day: date,
    slot_starts: list[datetime],
    channels: tuple[str, ...],
    cache: dict[tuple[int, str], np.ndarray],
) -> np.ndarray:
    """[channels, slots]: every minute of the slot inside day D and the hours, in every zone."""
    mask = np.zeros((len(channels), len(slot_starts)), dtype=bool)
    if rules is None or zones is None:
        return mask
    mask[:] = True
    for _, tz in zones:
        lo, hi = day_start(tz, day), day_start(tz, day + timedelta(days=1))
        mask &= np.array([lo <= s and s + timedelta(hours=1) <= hi for s in slot_starts])
    for rule in rules:
        if rule.kind != "contact_hours":
            continue
        for name, tz in zones:
            key = (id(rule), name)
            if key not in cache:
                # Allowed status only changes on local minute boundaries (windows are
                # in minutes, zone offsets in whole minutes), so 60 probes are exact.
                cache[key] = np.array(
                    [
                        all(
                            hours_refusal(rule, name, tz, s + timedelta(minutes=k)) is None
                            for k in range(60)
                        )
                        for s in slot_starts
                    ]
                )
            for j, channel in enumerate(channels):
                if channel in rule.channels:
                    mask[j] &= cache[key]
    return mask


class _Builder:
    """Accumulates per customer × channel remaining counts and blocks."""

    def __init__(self, port: Portfolio, channels: tuple[str, ...]) -> None:
        self.port = port
        self.channels = channels
        self.remaining = np.full((port.n, len(channels)), UNLIMITED, dtype=np.int64)
        self.not_before = np.full((port.n, len(channels)), _EARLIEST, dtype=np.int64)
        self.blocked = np.zeros((port.n, len(channels)), dtype=bool)
        self.shared: list[SharedCap] = []

    def columns(self, rule_channels: frozenset[str]) -> list[int]:
        return [j for j, c in enumerate(self.channels) if c in rule_channels]

    def cap(self, rule: Rule, applies: np.ndarray, left: np.ndarray) -> None:
        left = np.where(applies, np.maximum(left, 0), UNLIMITED)
        cols = self.columns(rule.channels)
        for j in cols:
            np.minimum(self.remaining[:, j], left, out=self.remaining[:, j])
        if len(cols) > 1:
            names = tuple(self.channels[j] for j in cols)
            self.shared.append(SharedCap(rule.id, rule.citation, names, left.astype(np.int32)))

    def wait(self, rule: Rule, cust: np.ndarray, until: np.ndarray) -> None:
        for j in self.columns(rule.channels):
            np.maximum.at(self.not_before[:, j], cust, until)

    def block(self, rule: Rule, which: np.ndarray) -> None:
        for j in self.columns(rule.channels):
            self.blocked[:, j] |= which


def _count(
    led: Ledger,
    n: int,
    rule: Rule,
    in_window: np.ndarray,
    campaign: str | None,
    pairs: Pairs | None,
) -> np.ndarray:
    """Per customer, the attempts ``rule`` counts among the rows ``in_window``.

    ``pairs`` must cover every counted row of the customers the rule applies to.
    """
    m = in_window & member(led.ch, rule.channels, CHANNELS)
    if rule.outcomes != frozenset(OUTCOMES):
        m &= member(led.oc, rule.outcomes, OUTCOMES)
    if len(rule.directions) == 1:
        m &= led.dr == (0 if "outbound" in rule.directions else 1)
    if rule.window == "campaign" and campaign is not None:
        column = led.column("campaign")
        m &= False if column is None else (column.to_numpy() == campaign)
    if rule.scope != "debt" or pairs is None:
        return np.bincount(led.cidx[m], minlength=n)
    # The strictest debt: the most counted one, plus attempts about every debt.
    per_pair = np.bincount(pairs.code[m[pairs.event]], minlength=len(pairs.customer))
    worst = np.zeros(n, dtype=np.int64)
    np.maximum.at(worst, pairs.customer, per_pair)
    return worst + np.bincount(led.cidx[m & ~led.has_debt], minlength=n)


def _window_starts(port: Portfolio, rule: Rule, day: date) -> np.ndarray:
    """Per customer, the UTC start of ``rule``'s window for contacts on day D."""
    if rule.window == "campaign":
        return np.full(port.n, _EARLIEST, dtype=np.int64)
    if rule.window == "calendar_week":
        first = day - timedelta(days=day.weekday())
    else:
        first = day - timedelta(days=rule.days - 1 if rule.window == "rolling_days" else 0)
    table = np.array(
        [
            _EARLIEST if zs is None else min(_to_ns(day_start(tz, first)) for _, tz in zs)
            for zs in port.zonesets
        ],
        dtype=np.int64,
    )
    return table[port.tz_code]


ConsentState = tuple[np.ndarray, np.ndarray, np.ndarray]


def _consent_state(led: Ledger, n: int, channel: int) -> ConsentState:
    """Per customer: (has a consent/opt-out record on the channel, latest one refuses, its time).

    The time is in ns since the epoch, ``_EARLIEST`` where there is no record.
    """
    rows = led.records[led.ch[led.records] == channel]
    has = np.zeros(n, dtype=bool)
    refused = np.zeros(n, dtype=bool)
    latest = np.full(n, _EARLIEST, dtype=np.int64)
    if rows.size == 0:
        return has, refused, latest
    granted = led.column("granted")
    grant = np.ones(rows.size, dtype=bool)
    if granted is not None:
        grant = granted.iloc[rows].fillna(True).to_numpy(dtype=bool)
    refusal = (led.kd[rows] == OPT_OUT) | ~grant
    # Latest record wins; on a tie the refusal (sorted last) wins.
    order = np.lexsort((refusal, led.at[rows], led.cidx[rows]))
    cust = led.cidx[rows][order]
    last = np.r_[cust[1:] != cust[:-1], True]
    has[cust[last]] = True
    refused[cust[last]] = refusal[order][last]
    latest[cust[last]] = led.at[rows][order][last]
    return has, refused, latest


def _open_disputes(led: Ledger, n: int) -> np.ndarray:
    is_dispute = led.kd == DISPUTE
    rows = np.flatnonzero(is_dispute)
    held = np.zeros(n, dtype=bool)
    if rows.size == 0:
        return held
    resolved = led.column("resolved")
    closed = np.zeros(rows.size, dtype=bool)
    if resolved is not None:
        closed = resolved.iloc[rows].fillna(False).to_numpy(dtype=bool)
    pairs = led.pairs(is_dispute)
    if pairs is not None:
        if not led.has_debt[rows].all():
            bad = int(rows[~led.has_debt[rows]][0])
            raise ComplianceInputError(f"events[row {bad}]", "a dispute must name its debts")
        event, key = pairs.event, pairs.code
        opened = ~closed[np.searchsorted(rows, event)]
    else:
        event, key, opened = rows, led.cidx[rows], ~closed
    # Latest dispute record per debt decides; on a tie the open one wins.
    order = np.lexsort((opened, led.at[event], key))
    key_sorted = key[order]
    last = np.r_[key_sorted[1:] != key_sorted[:-1], True]
    held[led.cidx[event[order][last & opened[order]]]] = True
    return held


@dataclass
class _Ctx:
    """What the per-kind steps read (the coded inputs, shared masks) and write (``out``)."""

    port: Portfolio
    led: Ledger
    day: date
    campaign: str | None
    out: _Builder
    attempts: np.ndarray  # bool per ledger row: an attempt
    # Rules sharing a window share its row mask: (window, days) -> attempts inside it.
    windows: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    # Per channel code: (has a consent/opt-out record, the latest one refuses, its time).
    consents: dict[int, ConsentState] = field(default_factory=dict)
    pairs: Pairs | None = None  # (customer, debt) pairs of the per-debt caps' rows

    def in_window(self, rule: Rule) -> np.ndarray:
        """Attempt rows inside ``rule``'s window for contacts on day D (computed once)."""
        key = (rule.window, rule.days)
        if key not in self.windows:
            since = _window_starts(self.port, rule, self.day)
            self.windows[key] = self.attempts & (self.led.at >= since[self.led.cidx])
        return self.windows[key]

    def consent_state(self, column: int) -> ConsentState:
        """:func:`_consent_state` of the channel of output ``column`` (computed once)."""
        code = CHANNELS.index(self.out.channels[column])
        if code not in self.consents:
            self.consents[code] = _consent_state(self.led, self.port.n, code)
        return self.consents[code]


def _debt_pairs(ctx: _Ctx, rules: list[Rule]) -> Pairs | None:
    """The (customer, debt) pairs every per-debt ``frequency_cap`` of ``rules`` counts on.

    Factorising the pairs is the costly part, so it is done once, on the union of
    those caps' rows, rather than once per cap.
    """
    per_debt = [r for r in rules if r.kind == "frequency_cap" and r.scope == "debt"]
    if not per_debt:
        return None
    relevant = np.logical_or.reduce([ctx.in_window(r) for r in per_debt])
    relevant &= np.logical_or.reduce([ctx.port.applies(r) for r in per_debt])[ctx.led.cidx]
    return ctx.led.pairs(relevant)


# One step per rule kind, in the order of evaluation._CHECKS. Each narrows ``ctx.out``
# for the customers where ``applies`` is set; a step runs only for a rule that applies
# to someone and covers at least one requested channel.


def _contact_hours(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    # Nothing per customer: the hours depend on the slot, not on the ledger, so
    # _slot_hours applies them once per pack set x zone set.
    pass


def _frequency_cap(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    counted = _count(ctx.led, ctx.port.n, rule, ctx.in_window(rule), ctx.campaign, ctx.pairs)
    ctx.out.cap(rule, applies, rule.max - counted)


def _channel_limit(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    led, out = ctx.led, ctx.out
    m = ctx.in_window(rule) & (led.dr == 0)
    m &= member(led.ch, rule.channels, CHANNELS)
    # One bit per channel used outbound in the window: a distinct count is a bit count.
    used = np.zeros(ctx.port.n, dtype=np.int64)
    np.bitwise_or.at(used, led.cidx[m], np.left_shift(1, led.ch[m].astype(np.int64)))
    for j in out.columns(rule.channels):
        # A contact on channel j adds j to the channels used (if not there yet).
        with_j = used | (1 << CHANNELS.index(out.channels[j]))
        distinct = sum((with_j >> k) & 1 for k in range(len(CHANNELS)))
        out.blocked[:, j] |= applies & (distinct > rule.max)


def _last_trigger(
    ctx: _Ctx, triggers: np.ndarray, applies: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(customers, latest trigger instant)`` over the rows ``triggers``, where ``applies``.

    Only the latest trigger matters: every wait ends later for a later trigger.
    """
    last = _last_per_customer(ctx.port.n, ctx.led.cidx[triggers], ctx.led.at[triggers])
    cust = np.flatnonzero((last > _EARLIEST) & applies)
    return cust, last[cust]


def _cooldown(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    led = ctx.led
    m = ctx.attempts & member(led.ch, rule.trigger_channels, CHANNELS)
    m &= member(led.oc, rule.trigger_outcomes, OUTCOMES)
    if len(rule.trigger_directions) == 1:
        m &= led.dr == (0 if "outbound" in rule.trigger_directions else 1)
    # Any debt's trigger counts, whatever the rule's scope: a contact concerns all
    # the customer's debts.
    cust, at = _last_trigger(ctx, m, applies)
    ctx.out.wait(rule, cust, _latest_day_start(ctx.port, cust, rule.days, utc_ns=at))


def _min_spacing(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    led = ctx.led
    m = ctx.attempts & (led.dr == 0)
    m &= member(led.ch, rule.channels, CHANNELS)
    cust, at = _last_trigger(ctx, m, applies)
    # Both readings of "days apart": days x 24 hours, and the local date days later.
    until = np.maximum(
        at + rule.days * _NS_DAY,
        _latest_day_start(ctx.port, cust, rule.days, utc_ns=at),
    )
    # days >= 1, so a first contact on day D closes the channels for the rest of it.
    ctx.out.cap(rule, applies, np.ones(ctx.port.n, dtype=np.int64))
    ctx.out.wait(rule, cust, until)


def _consent(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    out = ctx.out
    for j in out.columns(rule.channels):
        # The plan knows neither the line type nor the dialing mode: the line is
        # read as unknown, and autodialed when the channel is by default.
        has, refused, _ = ctx.consent_state(j)
        if "unknown" in rule.line_types and (
            not rule.autodialed_only or out.channels[j] in AUTODIALED_BY_DEFAULT
        ):
            out.blocked[:, j] |= applies & ~(has & ~refused)


def _opt_out(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    out = ctx.out
    for j in out.columns(rule.channels):
        _, refused, _ = ctx.consent_state(j)
        out.blocked[:, j] |= applies & refused


def _cease(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    # As evaluation._cease: the latest cease holds on a channel until a consent
    # on it recorded strictly later, and still standing (the latest record).
    led, out = ctx.led, ctx.out
    rows = np.flatnonzero(led.kd == CEASE)
    if rows.size == 0:
        return
    ceased_at = np.full(ctx.port.n, _EARLIEST, dtype=np.int64)
    np.maximum.at(ceased_at, led.cidx[rows], led.at[rows])
    ceased = applies & (ceased_at > _EARLIEST)
    for j in out.columns(rule.channels):
        has, refused, latest = ctx.consent_state(j)
        lifted = has & ~refused & (latest > ceased_at)
        out.blocked[:, j] |= ceased & ~lifted


def _lockout(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    led = ctx.led
    m = ctx.attempts & member(led.ch, rule.channels, CHANNELS)
    m &= member(led.oc, rule.trigger_outcomes, OUTCOMES)
    # A plan guarantees no agent, so unless_agent_guaranteed never lifts the lockout here.
    cust, at = _last_trigger(ctx, m, applies)
    if rule.end_of_day:
        until = _latest_day_start(ctx.port, cust, 1, utc_ns=at)
    else:
        until = at + rule.lock_hours * _NS_HOUR
    ctx.out.wait(rule, cust, until)


def _hold(rule: Rule, applies: np.ndarray, ctx: _Ctx) -> None:
    led = ctx.led
    if rule.on != "promise":
        ctx.out.block(rule, applies & _open_disputes(led, ctx.port.n))
        return
    rows = np.flatnonzero(led.kd == PROMISE)
    column = led.column("until")
    if rows.size:
        if column is None:
            raise ComplianceInputError("events.until", "required for promise rows")
        dates = utc_ns(column.iloc[rows], "events.until")
        keep = applies[led.cidx[rows]]
        cust = led.cidx[rows][keep]
        # Held through the promised date: contact resumes once the next local day
        # has begun in every zone. Any promise holds: it concerns one of the debts.
        until = _latest_day_start(ctx.port, cust, 1, local_date_ns=dates[keep])
        ctx.out.wait(rule, cust, until)


_RESTRICT: dict[str, Callable[[Rule, np.ndarray, _Ctx], None]] = {
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


def _hour_masks(
    port: Portfolio, day: date, slot_ns: np.ndarray, chans: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Hours masks per (pack set, zone set) group present, and each customer's group.

    Returns ``(masks, group)``: ``masks`` is [groups, channels, slots], ``group``
    the row of ``masks`` of each customer. Customers share a few pack sets and
    zone sets, so the minute-by-minute hours checks run once per group, not per
    customer.
    """
    slot_starts = [datetime.fromtimestamp(int(s) / 1e9, tz=UTC) for s in slot_ns]
    combo = port.pack_code * max(len(port.zonesets), 1) + port.tz_code
    uniques, inverse = np.unique(combo, return_inverse=True)
    cache: dict[tuple[int, str], np.ndarray] = {}
    groups = max(len(port.zonesets), 1)
    per_group = np.zeros((len(uniques), len(chans), len(slot_starts)), dtype=bool)
    for g, k in enumerate(uniques):
        rules_g, zones_g = port.rulesets[int(k) // groups], port.zonesets[int(k) % groups]
        per_group[g] = _slot_hours(rules_g, zones_g, day, slot_starts, chans, cache)
    return per_group, inverse


def _slot_allowed(
    out: _Builder, per_group: np.ndarray, group: np.ndarray, slot_ns: np.ndarray
) -> np.ndarray:
    """[customers, channels, slots]: the group's hours, after every wait, on open channels."""
    # A blocked channel, or one with no attempt left, has no slot: one comparison
    # over customers x channels x slots does it all, in cache-sized blocks of rows.
    never = np.iinfo(np.int64).max
    closed = out.blocked | (out.remaining <= 0)
    not_before = np.where(closed, never, out.not_before)
    n, width = out.remaining.shape
    allowed = np.empty((n, width, len(slot_ns)), dtype=bool)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        np.take(per_group, group[lo:hi], axis=0, out=allowed[lo:hi])
        allowed[lo:hi] &= slot_ns[None, None, :] >= not_before[lo:hi, :, None]
    return allowed


def allowances(
    customers: pd.DataFrame,
    events: pd.DataFrame,
    day: date,
    slots: Sequence[datetime] | np.ndarray | pd.DatetimeIndex,
    *,
    event_debts: pd.DataFrame | None = None,
    channels: Sequence[str] = CONTACT_CHANNELS,
    campaign: str | None = None,
    catalog: Mapping[str, Pack] | None = None,
) -> Allowances:
    """Attempts left and allowed hour slots on ``day`` for every customer × channel.

    See the module docstring for the input layout and the readings. ``catalog``
    maps pack names to packs (default: the shipped packs). Customers whose packs
    or zones cannot be read get nothing allowed and are listed in ``problems``.
    Raises :class:`ComplianceInputError` for malformed frames.
    """
    # Read: validate and code the inputs.
    chans = tuple(channels)
    for c in chans:
        if c not in CONTACT_CHANNELS:
            raise ComplianceInputError("channels", f"unknown channel {c!r}")
    if catalog is None:
        catalog = {name: load_pack(name) for name in available_packs()}
    slot_ns = utc_ns(slots, "slots")
    if slot_ns.size == 0:
        raise ComplianceInputError("slots", "no slot given")
    ids = pd.Index(customers["customer_id"]) if "customer_id" in customers else None
    if ids is None or not ids.is_unique:
        raise ComplianceInputError("customers.customer_id", "required, unique per row")
    port = read_portfolio(customers, catalog)
    led = read_ledger(port, ids, events, event_debts, int(slot_ns.min()))
    # Rules: each distinct rule narrows the counts, waits and blocks of its customers.
    out = _Builder(port, chans)
    ctx = _Ctx(port, led, day, campaign, out, attempts=led.kd == ATTEMPT)
    rules = list({id(r): r for rs in port.rulesets if rs for r in rs}.values())
    ctx.pairs = _debt_pairs(ctx, rules)
    for rule in rules:
        # parse_pack admits only RULE_KINDS; a hand-built Rule of another kind is
        # skipped, as it was before this table.
        restrict = _RESTRICT.get(rule.kind)
        applies = port.applies(rule)
        if restrict is None or not applies.any() or not out.columns(rule.channels):
            continue
        restrict(rule, applies, ctx)
    # Slots: the hours of each customer's packs and zones, after the waits.
    per_group, group = _hour_masks(port, day, slot_ns, chans)
    allowed = _slot_allowed(out, per_group, group, slot_ns)
    remaining = np.where(allowed.any(axis=2), out.remaining, 0).astype(np.int32)
    return Allowances(
        customer_ids=ids.to_numpy(),
        channels=chans,
        slots=slot_ns.view("datetime64[ns]"),
        remaining=remaining,
        slot_allowed=allowed,
        shared_caps=tuple(out.shared),
        problems=tuple(port.problems),
    )
