"""Column layout of the allowance inputs, and a builder from ledger events.

The allowances read the ledger as columns (one row per event) plus a long
table of (event row, debt) pairs, the shape a SQL query over the ledger and its
event-debt link returns. :func:`events_frame` builds both from :class:`Event`
objects (JSON-lines imports, tests); the lead's SQL path fills the same columns.

``events`` columns (row order is free):

=================  ==========================================================
``customer_id``    same values and dtype as ``customers.customer_id``
``at``             datetime64[ns], UTC (tz-aware, or naive meaning UTC)
``channel``        voice|sms|whatsapp|email (categorical with these
                   categories is fastest; object strings work)
``direction``      outbound|inbound
``kind``           attempt|consent|opt_out|cease|promise|dispute
``outcome``        attempts only, else null
``campaign``       optional; only read for ``window = "campaign"`` caps
``granted``        optional bool, consent rows (null = granted)
``until``          optional datetime64 local date (midnight), promise rows
``resolved``       optional bool, dispute rows (null = open)
=================  ==========================================================

``event_debts`` columns: ``event`` (integer row position in ``events``) and
``debt_id``. An event with no row concerns every debt of its customer.

``read_portfolio`` and ``read_ledger`` validate these frames and turn them into
the integer-coded arrays :mod:`compliance.allowance` computes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from compliance.localtime import zone
from compliance.model import (
    CHANNELS,
    DIRECTIONS,
    KINDS,
    MESSAGE_OUTCOMES,
    OUTCOMES,
    VOICE_OUTCOMES,
    ComplianceInputError,
    Event,
)
from compliance.packs import Pack, Rule

ATTEMPT, CONSENT, OPT_OUT, CEASE, PROMISE, DISPUTE = range(6)  # codes of KINDS
CATEGORIES: dict[str, tuple[str, ...]] = {
    "channel": CHANNELS,
    "direction": DIRECTIONS,
    "kind": KINDS,
    "outcome": OUTCOMES,
}


def events_frame(events: Iterable[Event]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(events, event_debts)`` frames in the allowance input layout."""
    rows = list(events)
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([e.customer_id for e in rows], dtype=object),
            "at": pd.to_datetime([e.at for e in rows], utc=True).astype("datetime64[ns, UTC]"),
            **{
                col: pd.Categorical([getattr(e, col) for e in rows], categories=list(cats))
                for col, cats in CATEGORIES.items()
            },
            "campaign": pd.Series([e.campaign for e in rows], dtype=object),
            "granted": pd.Series([e.granted for e in rows], dtype="boolean"),
            "until": pd.Series(
                [pd.NaT if e.until is None else pd.Timestamp(e.until) for e in rows],
                dtype="datetime64[ns]",
            ),
            "resolved": pd.Series([e.resolved for e in rows], dtype="boolean"),
        }
    )
    pairs = [(i, d) for i, e in enumerate(rows) for d in e.debt_ids]
    debts = pd.DataFrame(
        {
            "event": np.array([i for i, _ in pairs], dtype=np.int64),
            "debt_id": pd.Series([d for _, d in pairs], dtype=object),
        }
    )
    return frame, debts


@dataclass
class Portfolio:
    n: int
    pack_code: np.ndarray
    tz_code: np.ndarray
    rulesets: list[tuple[Rule, ...] | None]
    zonesets: list[tuple[tuple[str, ZoneInfo], ...] | None]
    has_zone: dict[str, np.ndarray]
    problems: list[str]

    def applies(self, rule: Rule) -> np.ndarray:
        table = np.array([rs is not None and rule in rs for rs in self.rulesets], dtype=bool)
        return table[self.pack_code]


def read_portfolio(customers: pd.DataFrame, catalog: Mapping[str, Pack]) -> Portfolio:
    for col in ("customer_id", "packs", "timezones"):
        if col not in customers.columns:
            raise ComplianceInputError(f"customers.{col}", "required column is missing")
    pack_code, pack_names = pd.factorize(customers["packs"], use_na_sentinel=False)
    tz_code, tz_names = pd.factorize(customers["timezones"], use_na_sentinel=False)
    problems: list[str] = []
    rulesets: list[tuple[Rule, ...] | None] = []
    for i, names in enumerate(pack_names):
        parts = [n.strip() for n in str(names).split(",") if n.strip()] if names else []
        unknown = [n for n in parts if n not in catalog]
        if unknown or not parts:
            count = int(np.count_nonzero(pack_code == i))
            why = f"unknown pack {unknown[0]!r}" if unknown else "no pack"
            problems.append(f"packs {names!r} ({count} customers): {why}")
            rulesets.append(None)
        else:
            rulesets.append(tuple(r for n in dict.fromkeys(parts) for r in catalog[n].rules))
    zonesets: list[tuple[tuple[str, ZoneInfo], ...] | None] = []
    has_zone: dict[str, np.ndarray] = {}
    for i, names in enumerate(tz_names):
        parts = [n.strip() for n in str(names).split(",") if n.strip()] if names else []
        zones = [(n, zone(n)) for n in parts]
        bad = [n for n, z in zones if z is None]
        if bad or not zones:
            count = int(np.count_nonzero(tz_code == i))
            why = f"unknown time zone {bad[0]!r}" if bad else "no time zone"
            problems.append(f"timezones {names!r} ({count} customers): {why}")
            zonesets.append(None)
            continue
        zonesets.append(tuple((n, z) for n, z in zones if z is not None))
        for n in parts:
            has_zone.setdefault(n, np.zeros(len(tz_names), dtype=bool))[i] = True
    return Portfolio(
        n=len(customers),
        pack_code=pack_code.astype(np.int64),
        tz_code=tz_code.astype(np.int64),
        rulesets=rulesets,
        zonesets=zonesets,
        has_zone={n: table[tz_code] for n, table in has_zone.items()},
        problems=problems,
    )


def category_codes(events: pd.DataFrame, col: str) -> np.ndarray:
    cats = CATEGORIES[col]
    series = events[col]
    if isinstance(series.dtype, pd.CategoricalDtype) and tuple(series.cat.categories) == cats:
        codes = series.cat.codes.to_numpy()
    else:
        codes = pd.Index(list(cats)).get_indexer(pd.Index(series))
        bad = np.flatnonzero((codes == -1) & series.notna().to_numpy())
        if bad.size:
            row = int(bad[0])
            raise ComplianceInputError(
                f"events.{col}[row {row}]", f"unknown value {series.iloc[row]!r}"
            )
    return codes.astype(np.int8)


@dataclass(frozen=True)
class Pairs:
    """(customer, debt) pairs of a subset of event_debts rows, densely numbered."""

    event: np.ndarray  # event row of each event_debts row in the subset
    code: np.ndarray  # pair number of each row
    customer: np.ndarray  # customer of each pair number


@dataclass
class Ledger:
    cidx: np.ndarray
    at: np.ndarray
    ch: np.ndarray
    dr: np.ndarray
    kd: np.ndarray
    oc: np.ndarray
    frame: pd.DataFrame
    debt_event: np.ndarray | None  # per kept event_debts row: its event row
    debt_value: np.ndarray | None  # per kept event_debts row: the debt id
    has_debt: np.ndarray
    records: np.ndarray  # rows of consent and opt-out records

    def column(self, name: str) -> pd.Series | None:
        return self.frame[name] if name in self.frame.columns else None

    def pairs(self, events: np.ndarray) -> Pairs | None:
        """Pairs of the event_debts rows whose event is selected by mask ``events``."""
        if self.debt_event is None or self.debt_value is None:
            return None
        sel = np.flatnonzero(events[self.debt_event])
        event = self.debt_event[sel]
        values = self.debt_value[sel]
        cust = self.cidx[event]
        # Hashing is the cost here, so it is done once and only on the rows that matter.
        if values.dtype.kind in "iu" and values.size and values.min() >= 0:
            base = int(values.max()) + 1
            if base * (len(self.cidx) + 1) < 2**62 and base * (int(cust.max()) + 1) < 2**62:
                code, keys = pd.factorize(cust * base + values.astype(np.int64))
                return Pairs(event, code, np.asarray(keys) // base)
        debt_code, uniques = pd.factorize(values)
        base = max(len(uniques), 1)
        code, keys = pd.factorize(cust * base + debt_code)
        return Pairs(event, code, np.asarray(keys) // base)


def member(codes: np.ndarray, names: Iterable[str], universe: tuple[str, ...]) -> np.ndarray:
    """``codes`` (-1 = null) in ``names``, by table lookup (np.isin would sort)."""
    table = np.zeros(len(universe) + 1, dtype=bool)
    for name in names:
        table[universe.index(name)] = True
    return table[codes]


def utc_ns(values: object, field: str) -> np.ndarray:
    idx = pd.DatetimeIndex(values)  # type: ignore[arg-type]
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    if idx.hasnans:
        raise ComplianceInputError(field, "missing timestamp")
    return np.asarray(idx.as_unit("ns").asi8, dtype=np.int64)


def read_ledger(
    port: Portfolio,
    ids: pd.Index,
    events: pd.DataFrame,
    event_debts: pd.DataFrame | None,
    first_slot: int,
) -> Ledger:
    for col in ("customer_id", "at", "channel", "direction", "kind", "outcome"):
        if col not in events.columns:
            raise ComplianceInputError(f"events.{col}", "required column is missing")
    cidx = ids.get_indexer(pd.Index(events["customer_id"]))
    at = utc_ns(events["at"], "events.at")
    ch, dr, kd, oc = (
        category_codes(events, c) for c in ("channel", "direction", "kind", "outcome")
    )
    for name, codes in (("channel", ch), ("direction", dr), ("kind", kd)):
        if (codes < 0).any():
            raise ComplianceInputError(f"events.{name}[row {int(np.argmax(codes < 0))}]", "null")
    voice_only = member(np.arange(len(OUTCOMES)), VOICE_OUTCOMES, OUTCOMES)
    message = member(np.arange(len(OUTCOMES)), MESSAGE_OUTCOMES, OUTCOMES)
    attempts = kd == ATTEMPT
    fits = np.where(ch == 0, voice_only[oc], message[oc]) & (oc >= 0)
    bad = np.flatnonzero(attempts != (attempts & fits)) if attempts.any() else np.empty(0)
    if bad.size:
        row = int(bad[0])
        raise ComplianceInputError(
            f"events.outcome[row {row}]", f"{events['outcome'].iloc[row]!r} is not a valid outcome"
        )
    late = np.flatnonzero(at >= first_slot)
    if late.size:
        raise ComplianceInputError(
            f"events.at[row {int(late[0])}]", "event at or after the first slot"
        )
    keep = cidx >= 0
    position = np.cumsum(keep) - 1
    frame = events if keep.all() else events.loc[keep]
    cidx, at, ch, dr, kd, oc = (a[keep] for a in (cidx, at, ch, dr, kd, oc))
    has_debt = np.zeros(len(cidx), dtype=bool)
    debt_event = debt_value = None
    if event_debts is not None:
        for col in ("event", "debt_id"):
            if col not in event_debts.columns:
                raise ComplianceInputError(f"event_debts.{col}", "required column is missing")
        ev = event_debts["event"].to_numpy(dtype=np.int64)
        out = np.flatnonzero((ev < 0) | (ev >= len(keep)))
        if out.size:
            raise ComplianceInputError(f"event_debts.event[row {int(out[0])}]", "no such event")
        kept = keep[ev]
        debt_event = position[ev[kept]]
        debt_value = event_debts["debt_id"].to_numpy()[kept]
        has_debt[debt_event] = True
    records = np.flatnonzero((kd == CONSENT) | (kd == OPT_OUT))
    return Ledger(cidx, at, ch, dr, kd, oc, frame, debt_event, debt_value, has_debt, records)
