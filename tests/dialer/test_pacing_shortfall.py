"""The pacer's risk arithmetic (``dialer.shortfall``) on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from dialer.shortfall import expected_shortfall, risks_exact, risks_normal

H = 30


def ring_at(second: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """A new call answered live with probability p, always in ``second``."""
    q = np.zeros(H)
    q[second] = p
    return np.cumsum(q), q


def test_one_free_agent_exact_risks() -> None:
    # One agent free, nothing else: the first call is safe; the second is
    # abandoned exactly when the first is also live (p); the third when at
    # least one of the first two is live: 1 - (1 - p)^2.
    p = 0.25
    q_cum, q = ring_at(10, p)
    empty = np.zeros((0, H))
    got = risks_exact(1, empty, empty, q_cum, q, 3)
    assert got == pytest.approx([0.0, p, 1 - (1 - p) ** 2])


def test_agent_freeing_after_the_answer_is_no_help() -> None:
    # No agent free now; one agent surely free from second 15 on. A call
    # answered at second 10 finds nobody; one answered at 20 finds the agent.
    supply = np.zeros((1, H))
    supply[0, 15:] = 1.0
    empty = np.zeros((0, H))
    early = risks_exact(0, supply, empty, *ring_at(10, 0.3), 1)
    late = risks_exact(0, supply, empty, *ring_at(20, 0.3), 1)
    assert early[0] == pytest.approx(1.0)
    assert late[0] == pytest.approx(0.0)


def test_a_call_already_ringing_is_ahead() -> None:
    # One agent free; a call in flight is answered live by second 5 with
    # probability 0.6: a new call answering at 10 is abandoned with 0.6.
    demand = np.zeros((1, H))
    demand[0, 5:] = 0.6
    got = risks_exact(1, np.zeros((0, H)), demand, *ring_at(10, 0.25), 1)
    assert got[0] == pytest.approx(0.6)


def test_exact_and_normal_agree_for_a_large_team() -> None:
    rng = np.random.default_rng(7)
    supply = np.sort(rng.uniform(0, 1, (50, H)), axis=1)
    demand = np.sort(rng.uniform(0, 0.3, (40, H)), axis=1)
    q = np.full(H, 0.25 / H)
    q_cum = np.cumsum(q)
    base = 2
    margin = base + supply.sum(0) - demand.sum(0)
    var = (supply * (1 - supply)).sum(0) + (demand * (1 - demand)).sum(0)
    exact = risks_exact(base, supply, demand, q_cum, q, 20)
    normal = risks_normal(margin, var, q_cum, q, 20)
    assert np.all(np.diff(exact) >= -1e-12)  # risk grows with each call added
    assert np.abs(exact - normal).max() < 0.05


def test_expected_shortfall_bounds() -> None:
    assert expected_shortfall(np.full(H, 20.0), np.full(H, 1.0)) < 1e-6
    assert expected_shortfall(np.full(H, -5.0), np.zeros(H)) == pytest.approx(5.0, abs=0.05)
