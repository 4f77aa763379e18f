"""The value model: beta smoothing toward priors, amounts, local hours."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer as o


def _priors(n_ch: int = 2) -> o.Priors:
    return o.Priors(
        rpc=np.full((n_ch, 24), 0.2),
        promise=np.full(n_ch, 0.3),
        keep=np.full(n_ch, 0.5),
        strength=50.0,
    )


def _history(n_seg: int = 2, n_ch: int = 2) -> o.History:
    return o.History(
        attempts=np.zeros((n_seg, n_ch, 24)),
        rpc=np.zeros((n_seg, n_ch, 24)),
        promises=np.zeros((n_seg, n_ch)),
        payments=np.zeros((n_seg, n_ch)),
    )


def test_no_history_falls_back_to_priors() -> None:
    rates = o.estimate_rates(_history(), _priors())
    assert np.allclose(rates.rpc, 0.2)
    assert np.allclose(rates.pay, 0.3 * 0.5)


def test_much_history_follows_the_data_and_little_history_barely_moves() -> None:
    h = _history()
    att = np.asarray(h.attempts).copy()
    rpc = np.asarray(h.rpc).copy()
    att[0, 0, 10], rpc[0, 0, 10] = 100_000, 60_000  # segment 0 voice at 10:00: 60%
    att[1, 0, 10], rpc[1, 0, 10] = 10, 10  # segment 1: ten calls, all reached
    rates = o.estimate_rates(o.History(att, rpc, h.promises, h.payments), _priors())
    assert rates.rpc[0, 0, 10] == pytest.approx(0.6, abs=1e-3)
    assert rates.rpc[1, 0, 10] == pytest.approx((10 + 50 * 0.2) / (10 + 50))
    assert rates.rpc[1, 0, 11] == pytest.approx(0.2)


def test_payment_rate_chains_promise_and_keep() -> None:
    h = _history()
    rpc = np.asarray(h.rpc).copy()
    rpc[0, 1, :] = 100  # 2400 contacts by channel 1 in segment 0
    promises = np.array([[0, 1200], [0, 0]])
    payments = np.array([[0, 300], [0, 0]])
    rates = o.estimate_rates(o.History(np.maximum(rpc, 100), rpc, promises, payments), _priors())
    promise = (1200 + 50 * 0.3) / (2400 + 50)
    keep = (300 + 50 * 0.5) / (1200 + 50)
    assert rates.pay[0, 1] == pytest.approx(promise * keep)


def test_history_rejects_impossible_counts() -> None:
    h = _history()
    with pytest.raises(ValueError, match=r"History\.rpc"):
        o.History(h.attempts, np.ones((2, 2, 24)), h.promises, h.payments)
    with pytest.raises(ValueError, match=r"History\.payments"):
        o.History(h.attempts, h.rpc, h.promises, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"History\.attempts"):
        o.History(np.zeros((2, 2, 12)), h.rpc, h.promises, h.payments)


def test_expected_amount_decays_with_days_past_due() -> None:
    model = o.AmountModel(cure_share=0.5, decay_days=30.0)
    amount = o.expected_amount(
        np.array([1000.0, 1000.0, 50.0]),
        np.array([100.0, 100.0, 80.0]),
        np.array([0, 30, 0]),
        model,
    )
    assert amount[0] == pytest.approx(100 + 0.5 * 900)
    assert amount[1] == pytest.approx(100 + 0.5 * np.exp(-1) * 900)
    assert amount[2] == pytest.approx(50.0)  # minimum due capped at the balance


def test_value_array_uses_each_customers_local_hour() -> None:
    rpc = np.zeros((1, 2, 24))
    rpc[0, 0, :] = np.arange(24) / 100.0
    rpc[0, 1, :] = 0.5
    rates = o.Rates(rpc=rpc, pay=np.array([[0.1, 0.2]]))
    value = o.value_array(
        rates,
        segment=np.array([0, 0]),
        amount=np.array([1000.0, 500.0]),
        slot_hour=np.array([9, 10, 11]),
        hour_offset=np.array([0, -2]),
    )
    assert value.dtype == np.float32 and value.shape == (2, 2, 3)
    assert value[0, 0, 1] == pytest.approx(0.10 * 0.1 * 1000)
    assert value[1, 0, 0] == pytest.approx(0.07 * 0.1 * 500)  # 9:00 here is 7:00 there
    assert value[1, 1, 2] == pytest.approx(0.5 * 0.2 * 500)


def test_learnt_values_feed_a_solvable_problem() -> None:
    rng = np.random.default_rng(0)
    n = 30
    rates = o.estimate_rates(_history(), _priors())
    value = o.value_array(rates, rng.integers(0, 2, n), rng.uniform(100, 2000, n), np.arange(8, 14))
    problem = o.Problem(
        value=value,
        allowed=np.ones((n, 2, 6), bool),
        max_attempts=np.full(n, 2, np.uint8),
        max_per_channel=np.ones((n, 2), np.uint8),
        handle_minutes=np.full(n, 3.0, np.float32),
        cost=np.array([1.0, 0.05]),
        agents=np.full(6, 0.5),
        budget=np.array([np.inf, 10.0]),
        budget_per_attempt=np.ones(2),
    )
    plan = o.solve(problem)
    assert o.check_plan(problem, plan) == []
    assert plan.objective > 0
