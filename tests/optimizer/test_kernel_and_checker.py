"""The per-customer kernel against brute force; the checker against broken plans."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import optimizer as o
from optimizer import kernel
from tests.optimizer.instances import random_problem


def _brute_force(
    value: np.ndarray,
    weight: np.ndarray,
    allowed: np.ndarray,
    a_tot: int,
    a_ch: np.ndarray,
    rho: float,
) -> float:
    """max over every feasible set of (lead value + rho * the rest - weights)."""
    n_ch, n_sl = value.shape
    items = [(c, t) for c in range(n_ch) for t in range(n_sl) if allowed[c, t] and a_ch[c] > 0]
    best = 0.0
    for k in range(1, min(a_tot, len(items)) + 1):
        for subset in itertools.combinations(items, k):
            slots = [t for _, t in subset]
            if len(set(slots)) < k:
                continue
            if any(sum(1 for c, _ in subset if c == ch) > a_ch[ch] for ch in range(n_ch)):
                continue
            vs = sorted((float(value[c, t]) for c, t in subset), reverse=True)
            total = vs[0] + rho * sum(vs[1:]) - sum(float(weight[c, t]) for c, t in subset)
            best = max(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_kernel_solves_every_customer_subproblem_exactly(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, n_ch, n_sl = 150, 3, 5
    problem = random_problem(seed, n=n, n_ch=n_ch, n_sl=n_sl)
    # prices that make channels and slots compete, so greedy picks would fail
    mu = rng.uniform(0.0, 3.0, n_sl)
    lam = np.array([0.0, rng.uniform(0.0, 5.0), 0.0])
    rho = float(rng.uniform(0.0, 1.0))
    choice = np.full((n, o.MAX_ATTEMPTS_PER_DAY), -1, np.int16)
    dual, primal, _, cuse = kernel.evaluate(kernel.day_arrays(problem), lam, mu, rho, choice, True)
    expected = 0.0
    for i in range(n):
        weight = np.repeat((problem.cost + lam * problem.budget_per_attempt)[:, None], n_sl, 1)
        weight[0] += mu * problem.handle_minutes[i]
        expected += _brute_force(
            problem.value[i],
            weight,
            problem.allowed[i],
            int(problem.max_attempts[i]),
            problem.max_per_channel[i],
            rho,
        )
    assert dual == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert primal == pytest.approx(kernel.objective_of(problem.value, problem.cost, choice, rho))
    assert cuse.sum() == (choice >= 0).sum()


def test_parallel_kernel_chooses_what_the_single_thread_one_does() -> None:
    # fixed chunks, each solved exactly: the same choices, sums up to rounding
    n, n_sl = 500, 5
    problem = random_problem(7, n=n, n_sl=n_sl)
    rng = np.random.default_rng(7)
    mu = rng.uniform(0.0, 3.0, n_sl)
    lam = np.array([0.0, 2.0, 0.0])
    day = kernel.day_arrays(problem)
    one = np.full((n, o.MAX_ATTEMPTS_PER_DAY), -1, np.int16)
    many = one.copy()
    d1, p1, v1, c1 = kernel.evaluate(day, lam, mu, 0.4, one, True)
    d2, p2, v2, c2 = kernel.evaluate_parallel(day, lam, mu, 0.4, many, True)
    np.testing.assert_array_equal(one, many)
    assert (d2, p2) == pytest.approx((d1, p1), rel=1e-12)
    np.testing.assert_allclose(v2, v1, rtol=1e-12)
    np.testing.assert_array_equal(c2, c1)


def _plan(customer: list[int], channel: list[int], slot: list[int]) -> o.Plan:
    n = len(customer)
    return o.Plan(
        customer=np.array(customer, np.int32),
        channel=np.array(channel, np.int8),
        slot=np.array(slot, np.int8),
        rank=np.zeros(n, np.int8),
        objective=0.0,
        upper_bound=0.0,
        gap=0.0,
        voice_minute_price=np.zeros(6),
        budget_price=np.zeros(3),
        method="hand-made",
    )


def test_checker_names_every_kind_of_violation() -> None:
    base = random_problem(0, n=4, agents_per_slot=0.05, sms_budget=1.0)
    allowed = np.ones_like(base.allowed)
    allowed[3, 2, 5] = False
    fields = {k: getattr(base, k) for k in base.__dataclass_fields__}
    fields.update(
        allowed=allowed,
        max_attempts=np.array([1, 3, 3, 3], np.uint8),
        max_per_channel=np.array([[1, 1, 1], [1, 1, 1], [1, 2, 2], [1, 1, 1]], np.uint8),
    )
    problem = o.Problem(**fields)
    assert o.check_plan(problem, _plan([], [], [])) == []
    cases = {
        "not allowed": _plan([3], [2], [5]),
        "attempts >": _plan([0, 0], [1, 2], [0, 1]),
        "over its limit": _plan([1, 1], [2, 2], [0, 1]),
        "attempts in slot": _plan([2, 2], [1, 2], [3, 3]),
        "voice minutes": _plan([0, 1, 2], [0, 0, 0], [2, 2, 2]),
        "budget": _plan([0, 1], [1, 1], [0, 1]),
        "sorted": _plan([1, 0], [2, 2], [0, 0]),
    }
    for needle, plan in cases.items():
        errors = o.check_plan(problem, plan)
        assert any(needle in e for e in errors), (needle, errors)
    outside = _plan([9], [0], [0])
    assert "outside" in o.check_plan(problem, outside)[0]


def test_problem_validation_names_the_field() -> None:
    base = random_problem(0, n=5)
    fields = {k: getattr(base, k) for k in base.__dataclass_fields__}
    bad_value = base.value.copy()
    bad_value[2, 0, 0] = -1.0
    cases: dict[str, dict[str, object]] = {
        "Problem.value": {"value": bad_value},
        "Problem.allowed": {"allowed": base.allowed.astype(np.int8)},
        "Problem.max_attempts": {"max_attempts": np.full(5, 9, np.uint8)},
        "Problem.handle_minutes": {"handle_minutes": np.ones(4, np.float32)},
        "Problem.budget": {"budget": np.array([np.inf, -1.0, np.inf])},
        "Problem.voice_channel": {"voice_channel": 3},
        "Problem.occupancy": {"occupancy": 0.0},
        "Problem.cost": {"cost": np.array([1.0, np.nan, 0.1])},
    }
    for needle, change in cases.items():
        with pytest.raises(o.ProblemError, match=needle.replace(".", r"\.")):
            o.Problem(**{**fields, **change})
    with pytest.raises(ValueError, match="repeat_value_factor"):
        o.Params(repeat_value_factor=1.5)
