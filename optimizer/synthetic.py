"""Seeded synthetic campaign days for benchmarks, tests and demos.

Shaped like a collections portfolio: 3 channels (voice, SMS, email), 12
hourly slots (08:00-19:00), four segments, heavy-tailed balances, voice
right-party contact peaking late morning and early evening, customers in
several time zones (so the legal calling window shifts), some customers
without consent for a channel or fully locked out, voice capacity and the
SMS budget binding. Arrays are generated in float32 to keep 1M customers in
a few hundred MB.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from optimizer.problem import Problem

CHANNELS = ("voice", "sms", "email")
HOURS = tuple(range(8, 20))


def synthetic_problem(
    n_customers: int,
    seed: int = 1,
    agents_per_1000: float = 1.0,
    sms_budget_share: float = 0.15,
    occupancy: float = 0.85,
) -> Problem:
    """A random but realistic day for ``n_customers`` debtors.

    ``agents_per_1000`` agents per slot per thousand customers (scaled by an
    intraday staffing profile); ``sms_budget_share`` SMS per customer per day.
    """
    # One generator, drawn from in a fixed order (values, then permissions,
    # then limits): the same seed gives the same day, bit for bit.
    rng = np.random.default_rng(seed)
    n = n_customers
    value = _values(rng, n)
    allowed = _allowed(rng, n)
    max_attempts, max_per_channel, handle = _limits(rng, n)
    profile = np.array([0.7, 0.9, 1.0, 1.0, 0.8, 0.6, 0.7, 0.9, 1.0, 1.0, 1.0, 0.8])
    agents = np.round(profile * agents_per_1000 * n / 1000.0, 1).astype(np.float64)
    budget = np.array([np.inf, sms_budget_share * n, np.inf])
    return Problem(
        value=value,
        allowed=np.ascontiguousarray(allowed),
        max_attempts=max_attempts,
        max_per_channel=max_per_channel,
        handle_minutes=handle,
        cost=np.array([0.35, 0.06, 0.004]),
        agents=agents,
        budget=budget,
        budget_per_attempt=np.array([1.0, 1.0, 1.0]),
        voice_channel=0,
        occupancy=occupancy,
        slot_minutes=60.0,
        channel_names=CHANNELS,
    )


def _values(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    """Expected value per customer × channel × slot: contact rate × pay rate × amount, noisy."""
    n_ch, n_sl = len(CHANNELS), len(HOURS)
    seg = rng.integers(0, 4, n)
    amount = rng.lognormal(6.5, 0.9, n).astype(np.float32)  # expected collectable, ~ 1000
    hours = np.arange(n_sl, dtype=np.float32)
    rpc_voice = (
        0.18 + 0.10 * np.exp(-((hours - 3) ** 2) / 3) + 0.12 * np.exp(-((hours - 10) ** 2) / 2)
    )
    rpc = np.stack(
        [rpc_voice, 0.55 + 0.05 * np.sin(hours / 2), 0.22 + 0.02 * np.cos(hours / 3)]
    ).astype(np.float32)
    pay = np.array([[0.12, 0.035, 0.015]], np.float32) * np.array(
        [[1.4], [1.0], [0.7], [0.45]], np.float32
    )
    value = np.empty((n, n_ch, n_sl), np.float32)
    chunk = 1 << 18
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        noise = rng.lognormal(0.0, 0.35, (e - s, n_ch, 1)).astype(np.float32)
        hour_noise = rng.lognormal(0.0, 0.15, (e - s, n_ch, n_sl)).astype(np.float32)
        value[s:e] = (
            rpc[None] * pay[seg[s:e]][:, :, None] * amount[s:e, None, None] * noise * hour_noise
        )
    return value


def _allowed(rng: np.random.Generator, n: int) -> npt.NDArray[np.bool_]:
    """Per customer × channel × slot: consent and the local calling window; some locked out."""
    n_ch, n_sl = len(CHANNELS), len(HOURS)
    # local calling window: time zones shift the legal 8-21 window by 0-2 slots
    tz = rng.integers(0, 3, n)
    slot = np.arange(n_sl)
    in_window = (slot[None, :] >= tz[:, None]) & (slot[None, :] < n_sl - (2 - tz[:, None]))
    consent = rng.random((n, n_ch)) < np.array([0.88, 0.8, 0.7])
    allowed = consent[:, :, None] & in_window[:, None, :]
    locked = rng.random(n) < 0.04
    allowed[locked] = False
    return allowed


def _limits(
    rng: np.random.Generator, n: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Attempts per day, attempts per channel per day, and voice handling minutes."""
    max_attempts = rng.choice(np.array([1, 2, 3], np.uint8), n, p=[0.3, 0.4, 0.3])
    max_per_channel = np.empty((n, len(CHANNELS)), np.uint8)
    max_per_channel[:, 0] = rng.choice(np.array([0, 1, 2], np.uint8), n, p=[0.05, 0.6, 0.35])
    max_per_channel[:, 1:] = 1
    handle = (rng.uniform(4.0, 9.0, n) * 0.35).astype(np.float32)
    return max_attempts, max_per_channel, handle
