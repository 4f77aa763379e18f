"""What planning reads from the database: the campaign's customers, their history, slots.

Everything is returned as arrays aligned on one customer order, ready for
``compliance.allowances`` and ``optimizer.Problem``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign
from campaigns.ledger.history import customer_histories
from compliance import Event, load_packs, lookback_days

RPC_OUTCOMES = {"conversation", "replied"}


@dataclass(frozen=True)
class CampaignSlice:
    """The campaign's customers (one row each) and why others of the segment were left out."""

    customers: pd.DataFrame  # customer_id, country, subdivision, timezones, segment, amounts…
    excluded: dict[str, str]  # customer_id -> reason (no rule pack for their jurisdiction…)


# The slice's columns, in query order (an empty slice still has them all).
_SLICE_COLUMNS = (
    "customer_id",
    "country",
    "subdivision",
    "timezones",
    "language",
    "segment",
    "behavior_score",
    "balance",
    "minimum_due",
    "days_past_due",
)


def load_slice(conn: Connection, campaign: Campaign) -> CampaignSlice:
    """Customers with at least one open account in the segment and the campaign's currency.

    The customer is the unit: their amounts sum every open account of the
    segment, and a contact concerns all of their open debts (``debt_ids``).
    """
    frame = _segment_customers(conn, campaign)
    frame["debt_ids"] = _open_debt_ids(conn, frame["customer_id"])
    frame["packs"] = [
        ",".join(campaign.packs_for(c, s))
        for c, s in zip(frame["country"], frame["subdivision"], strict=True)
    ]
    excluded = _without_packs(frame)
    frame = frame[frame["packs"] != ""].reset_index(drop=True)
    for column in ("balance", "minimum_due"):
        frame[column] = frame[column].astype(float)
    return CampaignSlice(frame, excluded)


def _segment_filter(campaign: Campaign) -> tuple[list[str], dict[str, object]]:
    """The SQL conditions on accounts and customers of the campaign's segment, and their values."""
    seg = campaign.segment
    where = [
        "a.status = 'open'",
        "a.currency = :currency",
        "a.days_past_due BETWEEN :dpd_lo AND :dpd_hi",
        "a.balance BETWEEN :bal_lo AND :bal_hi",
    ]
    params: dict[str, object] = {
        "currency": campaign.currency,
        "dpd_lo": seg.days_past_due[0],
        "dpd_hi": seg.days_past_due[1],
        "bal_lo": seg.balance[0],
        "bal_hi": seg.balance[1],
        "score_lo": seg.behavior_score[0],
        "score_hi": seg.behavior_score[1],
    }
    if seg.countries:
        where.append("c.country IN :countries")
        params["countries"] = list(seg.countries)
    if seg.products:
        where.append("a.product IN :products")
        params["products"] = list(seg.products)
    return where, params


def _segment_customers(conn: Connection, campaign: Campaign) -> pd.DataFrame:
    """One row per customer of the segment, amounts summed over their segment's accounts."""
    where, params = _segment_filter(campaign)
    query = sa.text(
        f"""
        SELECT c.external_id AS customer_id, c.country, c.subdivision, c.timezones, c.language,
               COALESCE(c.segment, 'unknown') AS segment,
               COALESCE(c.behavior_score, 500) AS behavior_score,
               SUM(a.balance) AS balance, SUM(a.minimum_due) AS minimum_due,
               MAX(a.days_past_due) AS days_past_due
        FROM customers c JOIN accounts a ON a.customer_id = c.id
        WHERE {" AND ".join(where)}
          AND COALESCE(c.behavior_score, 500) BETWEEN :score_lo AND :score_hi
        GROUP BY c.id, c.external_id, c.country, c.subdivision, c.timezones, c.language,
                 c.segment, c.behavior_score
        ORDER BY c.external_id
        """
    )
    for name in ("countries", "products"):
        if name in params:
            query = query.bindparams(sa.bindparam(name, expanding=True))
    frame = pd.DataFrame(conn.execute(query, params).mappings().all())
    if frame.empty:
        frame = pd.DataFrame(columns=list(_SLICE_COLUMNS))
    return frame


def _open_debt_ids(conn: Connection, customer_ids: pd.Series) -> list[tuple[str, ...]]:
    """Each customer's open accounts (all, not only the segment's): what a contact concerns."""
    debts = conn.execute(
        sa.text(
            "SELECT c.external_id, a.external_id FROM accounts a JOIN customers c"
            " ON c.id = a.customer_id WHERE a.status = 'open' ORDER BY a.external_id"
        )
    ).all()
    open_debts: dict[str, list[str]] = {}
    for cid, aid in debts:
        open_debts.setdefault(cid, []).append(aid)
    return [tuple(open_debts.get(c, ())) for c in customer_ids]


def _without_packs(frame: pd.DataFrame) -> dict[str, str]:
    """Customers whose jurisdiction has no rule pack in the campaign file, and why they are out."""
    return {
        str(cid): f"no rule pack for {sub or country} in the campaign file (fail closed)"
        for cid, country, sub, packs in zip(
            frame["customer_id"],
            frame["country"],
            frame["subdivision"],
            frame["packs"],
            strict=True,
        )
        if not packs
    }


def slot_starts(campaign: Campaign, day: dt.date) -> list[dt.datetime]:
    """UTC start of each hour slot of ``day`` in the campaign's time zone."""
    zone = ZoneInfo(campaign.timezone)
    return [
        dt.datetime.combine(day, dt.time(campaign.first_hour + t), tzinfo=zone).astimezone(dt.UTC)
        for t in range(campaign.slots)
    ]


def hour_offsets(timezones: Sequence[str], campaign: Campaign, day: dt.date) -> np.ndarray:
    """Each customer's local hour minus the campaign's, at noon of ``day`` (first zone)."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(campaign.timezone))
    base = noon.utcoffset() or dt.timedelta()
    cache: dict[str, int] = {}
    out = np.zeros(len(timezones), np.int64)
    for i, zones in enumerate(timezones):
        first = zones.split(";")[0] if zones else campaign.timezone
        if first not in cache:
            offset = noon.astimezone(ZoneInfo(first)).utcoffset() or dt.timedelta()
            cache[first] = round((offset - base).total_seconds() / 3600)
        out[i] = cache[first]
    return out


def histories(
    conn: Connection, customer_ids: Sequence[str], packs: Sequence[str], before: dt.datetime
) -> list[Event]:
    """Every ledger event the allowances need, before the day's first slot."""
    found = customer_histories(conn, list(customer_ids), history_since(packs, before))
    return [e for h in found.values() for e in h.events if e.at < before]


def history_since(packs: Sequence[str], before: dt.datetime) -> dt.datetime:
    """Where the history planning reads (and learns from) begins.

    The longest look-back the customers' compliance packs need, and at least
    35 days, so the value model always learns from five weeks of contacts.
    """
    names = sorted({p for group in packs for p in group.split(",") if p})
    days = lookback_days(load_packs(names)) if names else 35
    return before - dt.timedelta(days=max(days, 35))


def arm_of(customer_id: str, seed: int, challenger: float, holdout: float) -> str:
    """Stable assignment to optimised / challenger / holdout (the same every day)."""
    digest = hashlib.sha256(f"{seed}:{customer_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < holdout:
        return "holdout"
    if u < holdout + challenger:
        return "challenger"
    return "optimised"


@dataclass(frozen=True)
class OutcomeCounts:
    """Ledger counts for the value model (``optimizer.History``'s arrays).

    ``attempts``, ``rpc``: ``[S, C, 24]``; ``promises``, ``settled``,
    ``paid``: ``[S, C]``, credited to the channel of the customer's last
    right-party contact before the promise.
    """

    attempts: np.ndarray
    rpc: np.ndarray
    promises: np.ndarray
    settled: np.ndarray
    paid: np.ndarray
    paid_contacts: np.ndarray  # [S, C] right-party contacts followed by a payment


def outcome_counts(
    events: Sequence[Event],
    segment_of: dict[str, int],
    zone_of: dict[str, str],
    channels: Sequence[str],
    n_segments: int,
    promise_fates: Mapping[tuple[str, dt.datetime], float | None] | None = None,
    payments: Mapping[str, Sequence[dt.datetime]] | None = None,
    window: dt.timedelta = dt.timedelta(days=7),
) -> OutcomeCounts:
    """Ledger counts per segment × channel (× local hour) for the value model.

    A right-party contact is a conversation (voice) or a reply (messages); a
    promise is credited to the channel of the customer's last RPC before it.
    ``promise_fates`` gives, by (customer, instant the promise was taken), the
    share of it that was paid once settled (1 kept, 0 broken, between for
    partly kept) or None while it is pending. ``payments`` gives each
    customer's payment instants: a right-party contact followed by a payment
    within ``window`` counts as a paid contact.
    """
    fates = promise_fates or {}
    c_index = {c: k for k, c in enumerate(channels)}
    attempts = np.zeros((n_segments, len(channels), 24))
    rpc = np.zeros_like(attempts)
    promises = np.zeros((n_segments, len(channels)))
    settled = np.zeros_like(promises)
    paid = np.zeros_like(promises)
    paid_contacts = np.zeros_like(promises)
    paid_at = payments or {}
    last_rpc: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.at):
        s = segment_of.get(e.customer_id)
        if s is None:
            continue
        if e.kind == "promise" and e.customer_id in last_rpc:
            k = last_rpc[e.customer_id]
            promises[s, k] += 1
            share = fates.get((e.customer_id, e.at))
            if share is not None:
                settled[s, k] += 1
                paid[s, k] += share
        if e.kind != "attempt" or e.direction != "outbound" or e.channel not in c_index:
            continue
        k = c_index[e.channel]
        hour = e.at.astimezone(ZoneInfo(zone_of.get(e.customer_id) or "UTC")).hour
        attempts[s, k, hour] += 1
        if e.outcome in RPC_OUTCOMES:
            rpc[s, k, hour] += 1
            last_rpc[e.customer_id] = k
            if any(e.at < t <= e.at + window for t in paid_at.get(e.customer_id, ())):
                paid_contacts[s, k] += 1
    # More promises than contacts in a cell (several promises in one call) would
    # make a promise rate above one; each cell is capped, its fates scaled alike.
    capped = np.minimum(promises, rpc.sum(axis=2))
    scale = np.divide(capped, promises, out=np.ones_like(promises), where=promises > 0)
    return OutcomeCounts(attempts, rpc, capped, settled * scale, paid * scale, paid_contacts)
