"""The channel and hours a customer chose on the portal, as the day's plan reads them.

A customer who says "WhatsApp, between 18 and 20" has told the collector
which times are inconvenient: contacting them outside those hours is what
FDCPA §805(a)(1) forbids in the US and what a customer anywhere resents. So
the chosen hours bind every channel (slots outside them are closed for that
customer), and the chosen channel is favoured over the others by the
campaign's ``[preferences]`` weights (favoured, not exclusive: a customer
stops a channel by opting out of it, which the guard enforces).

Hours are the customer's local hours, ``[hour_from, hour_to)``, read in the
customer's first time zone as the rest of planning does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Preferences as Weights
from campaigns.storage.portal import ContactPreference

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class DayPreferences:
    """The preferences of the day's customers, one entry per customer (``ids`` order)."""

    has: np.ndarray  # bool [N]: the customer chose a channel and hours
    channel: np.ndarray  # int64 [N]: index into the campaign's channels, -1 if none or unused
    hour_from: np.ndarray  # int64 [N]: local, inclusive
    hour_to: np.ndarray  # int64 [N]: local, exclusive

    @property
    def count(self) -> int:
        """How many of the day's customers chose."""
        return int(self.has.sum())


def load_preferences(
    conn: Connection, ids: Sequence[str], channels: Sequence[str]
) -> DayPreferences:
    """The stored preferences of ``ids`` (the planning order), as arrays.

    Reads the whole table once: it holds one row per customer who chose,
    far fewer than a day's customers, so a scan beats a million-id IN list.
    """
    n = len(ids)
    out = DayPreferences(
        has=np.zeros(n, bool),
        channel=np.full(n, -1, np.int64),
        hour_from=np.zeros(n, np.int64),
        hour_to=np.full(n, HOURS_PER_DAY, np.int64),
    )
    table = ContactPreference.__table__
    rows = conn.execute(
        sa.select(table.c.customer_id, table.c.channel, table.c.hour_from, table.c.hour_to)
    ).all()
    if not rows:
        return out
    where = {cid: g for g, cid in enumerate(ids)}
    for customer, channel, hour_from, hour_to in rows:
        g = where.get(customer)
        if g is None:
            continue
        out.has[g] = True
        out.channel[g] = channels.index(channel) if channel in channels else -1
        out.hour_from[g], out.hour_to[g] = hour_from, hour_to
    return out


def inside_hours(
    prefs: DayPreferences, slot_hour: np.ndarray, hour_offset: np.ndarray
) -> np.ndarray:
    """bool ``[N, T]``: slot t falls in the customer's chosen local hours (or they chose none).

    ``slot_hour[t]`` is the campaign's hour of slot t, ``hour_offset[i]`` the
    customer's local hour minus the campaign's.
    """
    local = (np.asarray(slot_hour)[None, :] + np.asarray(hour_offset)[:, None]) % HOURS_PER_DAY
    inside = (local >= prefs.hour_from[:, None]) & (local < prefs.hour_to[:, None])
    return inside | ~prefs.has[:, None]


def channel_weights(prefs: DayPreferences, n_channels: int, weights: Weights) -> np.ndarray:
    """float32 ``[N, C]``: each channel's value multiplier (1 for customers who did not choose)."""
    out = np.ones((prefs.has.size, n_channels), np.float32)
    chose = prefs.has & (prefs.channel >= 0)
    out[chose] = weights.other_channels
    rows = np.flatnonzero(chose)
    out[rows, prefs.channel[rows]] = weights.preferred_channel_boost
    return out


def hours_reason(prefs: DayPreferences, g: int) -> str:
    """Why customer ``g`` is left out: no slot of the day falls in the hours they chose."""
    return (
        f"preference: the customer chose to be contacted from {int(prefs.hour_from[g]):02d}:00 "
        f"to {int(prefs.hour_to[g]):02d}:00 their time; no slot of today's plan falls there"
    )
