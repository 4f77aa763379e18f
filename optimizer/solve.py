"""``solve``: choose the exact or the scale path and assemble the Plan."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer import kernel
from optimizer.exact import solve_exact
from optimizer.lagrangian import _BLOCK, solve_scale
from optimizer.problem import F64, I16, Params, Plan, Problem


def solve(
    problem: Problem, params: Params | None = None, clock: Callable[[], float] | None = None
) -> Plan:
    """Plan the day: per customer the (channel, slot) attempts, with bound and prices.

    ``clock`` (e.g. ``time.perf_counter``) is only used to fill
    ``Plan.seconds_by_phase``; the optimizer never reads the clock itself.
    """
    params = params or Params()
    n_items = int(problem.allowed.sum()) if problem.n_customers else 0
    method = params.method
    if method == "auto":
        method = "exact" if n_items <= params.exact_max_items else "scale"
    t0 = clock() if clock else 0.0
    if method == "exact":
        res = solve_exact(
            problem, params.repeat_value_factor, time_limit_s=params.exact_time_limit_s
        )
        choice, upper = res.choice, res.upper_bound
        prices = np.concatenate([res.voice_minute_price, res.budget_price])
        stats: dict[str, float | int | str] = {"status": res.status, "variables": res.n_variables}
        phases = {"exact": clock() - t0} if clock else {}
    else:
        choice, upper, prices, stats, phases = solve_scale(problem, params, clock)
        prices = _report_prices(problem, prices)
    t1 = clock() if clock else 0.0
    plan = to_plan(problem, choice, params.repeat_value_factor, upper, prices, method, stats)
    if clock:
        phases["plan"] = clock() - t1
    return Plan(**{**plan.__dict__, "seconds_by_phase": phases})


def _report_prices(problem: Problem, prices: F64) -> F64:
    """Replace the internal 'shut' price of a room-less constraint by a meaningful one.

    A slot with no agents is priced at the best value per minute it turns
    away (what its first agent-minute would earn).
    """
    out = prices.copy()
    n_sl = problem.n_slots
    for k in np.flatnonzero(prices >= _BLOCK):
        if k < n_sl and problem.voice_channel >= 0 and problem.n_customers:
            v = problem.value[:, problem.voice_channel, k].astype(np.float64)
            ok = problem.allowed[:, problem.voice_channel, k] & (problem.handle_minutes > 0)
            dens = (v - problem.cost[problem.voice_channel]) / np.maximum(
                problem.handle_minutes, 1e-9
            )
            out[k] = float(np.max(dens[ok], initial=0.0))
        elif k >= n_sl and problem.n_customers:
            c = k - n_sl
            best = float(problem.value[:, c, :][problem.allowed[:, c, :]].max(initial=0.0))
            out[k] = max(best - problem.cost[c], 0.0) / max(problem.budget_per_attempt[c], 1e-12)
        else:
            out[k] = 0.0
    return out


def to_plan(
    problem: Problem,
    choice: I16,
    rho: float,
    upper: float,
    prices: F64,
    method: str,
    stats: dict[str, float | int | str],
) -> Plan:
    """Flatten a choice array into a Plan with its objective and gap."""
    n_sl = problem.n_slots
    rows, cols = np.nonzero(choice >= 0)
    codes = choice[rows, cols].astype(np.int64)
    objective = float(kernel.objective_of(problem.value, problem.cost, choice, rho))
    if objective > upper:
        # the bound is proven; float32 values and solver tolerances can put a
        # tight optimum a hair above it, anything more is a solver bug
        if objective - upper > 1e-6 * max(1.0, abs(upper)):
            raise RuntimeError(f"{method}: objective {objective} above its bound {upper}")
        upper = objective
    gap = (upper - objective) / max(abs(upper), 1e-9) if np.isfinite(upper) else np.inf
    return Plan(
        customer=rows.astype(np.int32),
        channel=(codes // n_sl).astype(np.int8),
        slot=(codes % n_sl).astype(np.int8),
        rank=cols.astype(np.int8),
        objective=objective,
        upper_bound=float(upper),
        gap=float(gap),
        voice_minute_price=np.ascontiguousarray(prices[:n_sl]),
        budget_price=np.ascontiguousarray(prices[n_sl:]),
        method=method,
        stats=stats,
        slot_minutes=problem.slot_minutes,
        occupancy=problem.occupancy,
        repeat_value_factor=rho,
    )
