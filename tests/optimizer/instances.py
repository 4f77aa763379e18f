"""Random small campaign days for the optimizer tests (seeded, tight capacities)."""

from __future__ import annotations

import numpy as np

from optimizer import Problem


def random_problem(
    seed: int,
    n: int = 60,
    n_ch: int = 3,
    n_sl: int = 6,
    agents_per_slot: float = 0.6,
    sms_budget: float | None = None,
) -> Problem:
    """A day small enough for the exact MIP, with voice and SMS both binding."""
    rng = np.random.default_rng(seed)
    value = (rng.lognormal(2.0, 0.8, (n, n_ch, 1)) * rng.uniform(0.5, 1.5, (n, n_ch, n_sl))).astype(
        np.float32
    )
    allowed = rng.random((n, n_ch, n_sl)) < 0.75
    allowed[rng.random(n) < 0.05] = False
    max_attempts = rng.integers(0, 4, n).astype(np.uint8)
    max_per_channel = rng.integers(0, 3, (n, n_ch)).astype(np.uint8)
    budget = np.full(n_ch, np.inf)
    if n_ch > 1:
        budget[1] = float(n) * 0.3 if sms_budget is None else sms_budget
    return Problem(
        value=value,
        allowed=allowed,
        max_attempts=max_attempts,
        max_per_channel=max_per_channel,
        handle_minutes=rng.uniform(2.0, 6.0, n).astype(np.float32),
        cost=np.linspace(1.0, 0.05, n_ch),
        agents=np.full(n_sl, agents_per_slot),
        budget=budget,
        budget_per_attempt=np.ones(n_ch),
        voice_channel=0,
        occupancy=0.85,
        slot_minutes=60.0,
        channel_names=tuple(f"ch{c}" for c in range(n_ch)),
    )


def substitute_slots_problem(n: int, seed: int = 0, agents_per_slot: float = 4.0) -> Problem:
    """One contact a day, slots every customer ranks alike, capacity for a few percent.

    Shaped like a Colombian collections day under Ley 2300: value is the
    customer's expected amount times a channel-and-hour rate (so all customers
    prefer the same hours), every voice call takes the same agent time, SMS
    has a small fixed budget and email is unlimited but worth far less. Each
    slot's use then jumps between nothing and many times its room as its
    price crosses its neighbours', which is what the price search must cope with.
    """
    rng = np.random.default_rng(seed)
    n_sl = 12
    hour = 1.0 + 0.6 * np.sin(np.linspace(0.0, np.pi, n_sl)) + rng.uniform(0.0, 0.05, n_sl)
    rate = np.array([0.22, 0.08, 0.03])[:, None] * hour[None, :]
    amount = rng.lognormal(12.0, 1.0, n)
    value = (amount[:, None, None] * rate[None, :, :]).astype(np.float32)
    allowed = np.ones((n, 3, n_sl), np.bool_)
    allowed[:, 2, :] &= (rng.random(n) < 0.7)[:, None]  # email only with consent
    return Problem(
        value=value,
        allowed=allowed,
        max_attempts=np.ones(n, np.uint8),
        max_per_channel=np.ones((n, 3), np.uint8),
        handle_minutes=np.full(n, 1.1, np.float32),
        cost=np.array([1400.0, 60.0, 4.0]),
        agents=np.full(n_sl, agents_per_slot),
        budget=np.array([np.inf, 0.02 * n, np.inf]),
        budget_per_attempt=np.ones(3),
        voice_channel=0,
        occupancy=0.85,
        slot_minutes=60.0,
        channel_names=("voice", "sms", "email"),
    )
