"""Exact path: the whole day as one MIP in OR-Tools (SCIP), plus its LP duals.

Used below a size threshold and as the referee of the scale path in tests;
the scale path also calls it on the few customers whose choice is sensitive
to the prices. The model is built from index arrays (one helper call per
matrix term, no Python expression objects), which keeps building linear in
the number of allowed items.

Formulation per allowed item j = (i, c, t): ``x_j`` (attempt) and ``y_j``
(the customer's lead attempt, counted in full). With ``rho`` the repeat
factor, maximise ``sum (rho*v_j - cost_j) x_j + (1 - rho) v_j y_j`` subject to
``y_j <= x_j`` and ``sum_j y_j <= 1`` per customer; maximisation puts ``y`` on
the most valuable chosen attempt, which reproduces ``f_i`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.linear_solver.python import model_builder_helper as mbh

from optimizer.problem import F64, I16, MAX_ATTEMPTS_PER_DAY, Problem

_MIP_SOLVER = "scip"  # SCIP closed these models far faster than CP-SAT in trials


@dataclass(frozen=True)
class ExactResult:
    """Choice array (see ``optimizer.kernel``), objective, bound and LP duals."""

    choice: I16
    objective: float
    upper_bound: float
    voice_minute_price: F64
    budget_price: F64
    status: str
    n_variables: int


def solve_exact(
    problem: Problem,
    rho: float,
    voice_cap: F64 | None = None,
    budget: F64 | None = None,
    time_limit_s: float = 60.0,
    with_duals: bool = True,
) -> ExactResult:
    """Solve the MIP to optimality (or the time limit); duals from its LP relaxation.

    ``voice_cap`` (minutes per slot) and ``budget`` (units per channel)
    override the problem's own, for residual capacities.
    """
    n, n_ch, n_sl = problem.value.shape
    vcap = problem.voice_capacity() if voice_cap is None else voice_cap
    bud = problem.budget if budget is None else budget
    usable = problem.allowed & (problem.max_per_channel[:, :, None] > 0)
    usable &= (problem.max_attempts > 0)[:, None, None]
    ii, cc, tt = np.nonzero(usable)
    m = int(ii.size)
    choice = np.full((n, MAX_ATTEMPTS_PER_DAY), -1, np.int16)
    zero_t = np.zeros(n_sl)
    zero_c = np.zeros(n_ch)
    if m == 0:
        return ExactResult(choice, 0.0, 0.0, zero_t, zero_c, "EMPTY", 0)
    v = problem.value[ii, cc, tt].astype(np.float64)
    helper, n_vars, coupling = _build(problem, rho, ii, cc, tt, v, vcap, bud, integral=True)
    solver = mbh.ModelSolverHelper(_MIP_SOLVER)
    solver.set_time_limit_in_seconds(time_limit_s)
    solver.solve(helper)
    status = solver.status()
    if not solver.has_solution():
        raise RuntimeError(f"exact solver found no solution: {solver.status_string() or status}")
    xs = np.asarray(solver.variable_values())[:m] > 0.5
    objective = float(solver.objective_value())
    bound = float(solver.best_objective_bound())
    if status == mbh.SolveStatus.OPTIMAL:
        bound = max(bound, objective)
    _fill_choice(choice, ii[xs], cc[xs], tt[xs], v[xs], n_sl)
    mu = zero_t.copy()
    lam = zero_c.copy()
    if with_duals:
        lp, _, coupling = _build(problem, rho, ii, cc, tt, v, vcap, bud, integral=False)
        lp_solver = mbh.ModelSolverHelper("glop")
        lp_solver.solve(lp)
        if lp_solver.status() == mbh.SolveStatus.OPTIMAL:
            duals = np.abs(np.asarray(lp_solver.dual_values()))
            for kind, idx, ct in coupling:
                (mu if kind == "voice" else lam)[idx] = duals[ct]
    return ExactResult(choice, objective, bound, mu, lam, str(status.name), n_vars)


_Coupling = list[tuple[str, int, int]]


def _build(
    problem: Problem,
    rho: float,
    ii: npt.NDArray[np.int64],
    cc: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int64],
    v: F64,
    vcap: F64,
    bud: F64,
    integral: bool,
) -> tuple[mbh.ModelBuilderHelper, int, _Coupling]:
    """The model over the allowed items ``(ii, cc, tt)`` worth ``v``.

    Returns the model, its number of variables (``x`` then ``y``, one each per
    item) and its coupling constraints as ``(kind, index, constraint)``:
    ``("voice", slot, ct)`` and ``("budget", channel, ct)``, whose duals price
    the scarce resources. Constraints are added in a fixed order, so the same
    inputs build the same model.
    """
    m = int(ii.size)
    h = mbh.ModelBuilderHelper()
    _add_variables(h, problem, rho, cc, v, integral)
    _add_customer_limits(h, problem, ii, cc, tt)
    coupling = _add_voice_capacity(h, problem, ii, cc, tt, vcap)
    coupling += _add_budgets(h, problem, cc, bud)
    return h, 2 * m, coupling


def _add_variables(
    h: mbh.ModelBuilderHelper,
    problem: Problem,
    rho: float,
    cc: npt.NDArray[np.int64],
    v: F64,
    integral: bool,
) -> None:
    """``x_j`` then ``y_j`` in [0, 1], and the objective to maximise."""
    m = int(cc.size)
    lb = np.zeros(2 * m)
    ub = np.ones(2 * m)
    xv = h.add_var_array_with_bounds(lb, ub, np.full(2 * m, integral), "x")  # type: ignore[arg-type]
    obj = np.concatenate([rho * v - problem.cost[cc], (1.0 - rho) * v])
    h.set_objective_coefficients([int(k) for k in xv], obj.tolist())
    h.set_maximize(True)


def _add_group_limits(
    h: mbh.ModelBuilderHelper,
    keys: npt.NDArray[np.int64],
    offset: int,
    rhs: npt.NDArray[np.float64],
) -> None:
    """One ``sum <= rhs`` row per distinct key over the variables ``offset + q`` sharing it.

    ``rhs`` is read at each group's first position in stable key order.
    """
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    ends = np.r_[starts[1:], ks.size]
    for s, e in zip(starts, ends, strict=True):
        ct = h.add_linear_constraint()
        h.set_constraint_upper_bound(ct, float(rhs[s]))
        h.set_constraint_lower_bound(ct, -np.inf)
        for q in order[s:e]:
            h.add_term_to_constraint(ct, int(q) + offset, 1.0)


def _add_customer_limits(
    h: mbh.ModelBuilderHelper,
    problem: Problem,
    ii: npt.NDArray[np.int64],
    cc: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int64],
) -> None:
    """Per customer: attempts, attempts per channel, one per slot, one lead; ``y_j <= x_j``."""
    n_sl = problem.n_slots
    n_ch = problem.n_channels
    m = int(ii.size)
    a_tot = problem.max_attempts[ii].astype(np.float64)
    a_ch = problem.max_per_channel[ii, cc].astype(np.float64)
    _add_group_limits(h, ii, 0, a_tot[np.argsort(ii, kind="stable")])
    _add_group_limits(h, ii * n_ch + cc, 0, a_ch[np.argsort(ii * n_ch + cc, kind="stable")])
    _add_group_limits(h, ii * n_sl + tt, 0, np.ones(m))
    _add_group_limits(h, ii, m, np.ones(m))
    for q in range(m):
        ct = h.add_linear_constraint()
        h.set_constraint_lower_bound(ct, -np.inf)
        h.set_constraint_upper_bound(ct, 0.0)
        h.add_term_to_constraint(ct, m + q, 1.0)
        h.add_term_to_constraint(ct, q, -1.0)


def _add_voice_capacity(
    h: mbh.ModelBuilderHelper,
    problem: Problem,
    ii: npt.NDArray[np.int64],
    cc: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int64],
    vcap: F64,
) -> _Coupling:
    """Per slot: the voice attempts' handling minutes within ``vcap``."""
    coupling: _Coupling = []
    voice = problem.voice_channel
    if voice < 0:
        return coupling
    hm = problem.handle_minutes[ii].astype(np.float64)
    for t in range(problem.n_slots):
        sel = np.flatnonzero((cc == voice) & (tt == t) & (hm > 0))
        if sel.size == 0:
            continue
        ct = int(h.add_linear_constraint())
        h.set_constraint_lower_bound(ct, -np.inf)
        h.set_constraint_upper_bound(ct, float(vcap[t]))
        for qv in sel.tolist():
            h.add_term_to_constraint(ct, qv, float(hm[qv]))
        coupling.append(("voice", t, ct))
    return coupling


def _add_budgets(
    h: mbh.ModelBuilderHelper, problem: Problem, cc: npt.NDArray[np.int64], bud: F64
) -> _Coupling:
    """Per channel with a finite budget: the attempts' budget use within ``bud``."""
    coupling: _Coupling = []
    for c in range(problem.n_channels):
        use = float(problem.budget_per_attempt[c])
        if not np.isfinite(bud[c]) or use <= 0:
            continue
        sel = np.flatnonzero(cc == c)
        if sel.size == 0:
            continue
        ct = int(h.add_linear_constraint())
        h.set_constraint_lower_bound(ct, -np.inf)
        h.set_constraint_upper_bound(ct, float(bud[c]))
        for qb in sel.tolist():
            h.add_term_to_constraint(ct, qb, use)
        coupling.append(("budget", c, ct))
    return coupling


def _fill_choice(
    choice: I16,
    ii: npt.NDArray[np.int64],
    cc: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int64],
    v: F64,
    n_sl: int,
) -> None:
    order = np.lexsort((-v, ii))
    ii, cc, tt = ii[order], cc[order], tt[order]
    starts = np.flatnonzero(np.r_[True, ii[1:] != ii[:-1]]) if ii.size else np.array([], int)
    rank = np.arange(ii.size) - np.repeat(starts, np.diff(np.r_[starts, ii.size]))
    choice[ii, rank] = (cc * n_sl + tt).astype(np.int16)
