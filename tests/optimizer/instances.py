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
