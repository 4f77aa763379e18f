"""Scale path: Lagrangian decomposition on the coupling constraints.

Only T voice-capacity rows and C budget rows link customers. Pricing them
(``mu[t]`` per agent-minute, ``lam[c]`` per budget unit) splits the day into
N independent subproblems, each solved exactly by the compiled kernel, and
gives the dual bound ``L(p) = sum_i max_S (f_i(S) - p . use_i(S)) + p . cap``,
which is >= the optimum for ANY ``p >= 0``: the reported upper bound is the
smallest ``L`` evaluated on the full population, never an estimate.

Price search: sign steps on a small sample, then Newton steps on use =
capacity with a measured Jacobian, warm-started on a random sample of
customers with proportionally scaled capacities. When Newton stalls (slots
that every customer ranks alike make each slot's use jump between nothing
and many times its room), a trust-region cutting-plane method minimises
``L`` directly from its values and subgradients. The primal is the kernel's
choice at the best prices, repaired (drop the cheapest attempts from any
over-used constraint), greedily filled into the remaining room, and finally
re-optimised exactly (OR-Tools) over the customers whose choice moves when
the prices move by a few percent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.linear_solver.python import model_builder_helper as mbh

from optimizer import kernel
from optimizer.exact import solve_exact
from optimizer.problem import F64, I16, MAX_ATTEMPTS_PER_DAY, Params, Problem

#: Price that shuts a constraint with no room at all (zero agents, zero budget).
_BLOCK = 1e15
#: Fill considers at most this many attempts (the best by priced margin):
#: after repair the room left is a handful of attempts per constraint.
_FILL_CANDIDATES = 200_000


@dataclass
class _Constraints:
    cap: F64  # [T + C]; voice minutes per slot, then budget units per channel
    active: npt.NDArray[np.bool_]
    blocked: npt.NDArray[np.bool_]  # active with no room: price fixed at _BLOCK


def _constraints(problem: Problem) -> _Constraints:
    n_sl = problem.n_slots
    cap = np.full(n_sl + problem.n_channels, np.inf)
    active = np.zeros(cap.size, bool)
    if problem.voice_channel >= 0:
        cap[:n_sl] = problem.voice_capacity()
        active[:n_sl] = True
    bud = problem.budget
    use = problem.budget_per_attempt
    fin = np.isfinite(bud) & (use > 0)
    cap[n_sl:][fin] = bud[fin]
    active[n_sl:] = fin
    blocked = active.copy()
    blocked[:n_sl] &= cap[:n_sl] <= 0
    blocked[n_sl:] &= cap[n_sl:] < use
    return _Constraints(cap, active, blocked)


class _Evaluator:
    """Evaluates the priced subproblems of one population."""

    def __init__(
        self, problem: Problem, rho: float, cons: _Constraints, scale: float, parallel: bool
    ) -> None:
        self.kernel = kernel.evaluate_parallel if parallel else kernel.evaluate
        self.p = problem
        self.day = kernel.day_arrays(problem)
        self.rho = rho
        self.cap = np.where(cons.active, cons.cap * scale, np.inf)
        self.active = cons.active
        self.choice = np.full((problem.n_customers, MAX_ATTEMPTS_PER_DAY), -1, np.int16)
        self.evaluations = 0

    def __call__(self, prices: F64, write: bool = False) -> tuple[float, float, F64]:
        """Returns (L(prices), true objective of the priced choice, usage per constraint)."""
        p = self.p
        n_sl = p.n_slots
        dual, primal, vuse, cuse = self.kernel(
            self.day,
            np.ascontiguousarray(prices[n_sl:]),
            np.ascontiguousarray(prices[:n_sl]),
            self.rho,
            self.choice,
            write,
        )
        self.evaluations += 1
        usage = np.concatenate([vuse, cuse * p.budget_per_attempt])
        bound = dual + float(np.dot(prices[self.active], self.cap[self.active]))
        return bound, primal, usage


@dataclass
class _Search:
    prices: F64
    bound: float
    iterations: int
    usage: F64
    trace: list[float]


def _violation(ev: _Evaluator, free: npt.NDArray[np.bool_], p: F64, u: F64) -> float:
    """Largest relative miss of complementary slackness over the priced constraints."""
    cap = ev.cap
    u, p, cap = u[free], p[free], cap[free]
    rel = np.abs(u - cap) / np.maximum(cap, 1e-9)
    rel = np.where((p == 0) & (u <= cap), 0.0, rel)
    return float(rel.max(initial=0.0))


def _rprop(ev: _Evaluator, cons: _Constraints, init: F64, iters: int, tol: float) -> _Search:
    """Sign-based price search (robust to the slots substituting for each other).

    Each price moves multiplicatively toward balancing its constraint; its
    step grows while the sign of the imbalance holds and halves when it flips.
    """
    free = cons.active & ~cons.blocked
    p = np.zeros(cons.cap.size)
    p[cons.blocked] = _BLOCK
    step = np.full(p.size, 0.5)
    last = np.zeros(p.size)
    best = np.inf
    trace: list[float] = []
    u = np.zeros(p.size)
    it = 0
    for it in range(1, iters + 1):
        bound, _, u = ev(p)
        best = min(best, bound)
        viol = _violation(ev, free, p, u)
        trace.append(viol)
        if viol <= tol or it == iters:
            break
        sign = np.sign(u - ev.cap)
        flip = sign * last < 0
        step = np.where(flip, step * 0.5, np.minimum(step * 1.2, 1.0))
        grow = free & (sign > 0)
        shrink = free & (sign < 0) & (p > 0)
        start = grow & (p == 0)
        p = np.where(start, init, p)
        p = np.where(grow & ~start, p * (1.0 + step), p)
        p = np.where(shrink, p / (1.0 + step), p)
        last = np.where(free, sign, 0.0)
    return _Search(p, best, it, u, trace)


def _jacobian(ev: _Evaluator, cons: _Constraints, warm: _Search, scale: float) -> F64:
    """d use / d price on the sample, one 5% bump per priced constraint, scaled to N.

    Slots substitute for each other (a call priced out at 11:00 moves to
    12:00), so the cross terms matter: a diagonal-only Newton step overshoots.
    """
    k_all = warm.prices.size
    jac = np.zeros((k_all, k_all))
    for k in np.flatnonzero(cons.active & ~cons.blocked & (warm.prices > 0)):
        bump = warm.prices.copy()
        bump[k] *= 1.05
        _, _, u = ev(bump)
        jac[:, k] = (u - warm.usage) / (bump[k] - warm.prices[k]) * scale
    return jac


def _newton(
    ev: _Evaluator, cons: _Constraints, p0: F64, jac: F64, iters: int, tol: float
) -> _Search:
    """Newton steps on use = capacity for the priced constraints.

    Use is a step function of prices on small populations, so a step that
    makes the imbalance worse is retracted and retried at half length. The
    evaluator's choice is left at the returned prices.
    """
    free = cons.active & ~cons.blocked
    p = p0.copy()
    best = np.inf
    trace: list[float] = []
    anchor_p, anchor_u, anchor_viol = p.copy(), np.zeros(p.size), np.inf
    damp = 1.0
    it = 0
    for it in range(1, iters + 1):
        bound, _, u = ev(p, write=True)
        viol = _violation(ev, free, p, u)
        trace.append(viol)
        best = min(best, bound)
        if viol < anchor_viol:
            anchor_p, anchor_u, anchor_viol = p.copy(), u, viol
            damp = min(1.0, damp * 1.5)
        else:
            damp *= 0.5
        if anchor_viol <= tol or it == iters:
            break
        act = np.flatnonzero(free & ((anchor_p > 0) | (anchor_u > ev.cap)) & (np.diag(jac) < 0))
        if act.size == 0:
            break
        sub = jac[np.ix_(act, act)]
        rhs = -(anchor_u[act] - ev.cap[act])
        try:
            delta = np.linalg.solve(sub, rhs)
        except np.linalg.LinAlgError:
            delta = rhs / np.diag(sub)
        p = anchor_p.copy()
        p[act] = np.clip(p[act] + damp * delta, 0.7 * p[act], 1.4 * p[act] + 1e-12)
        p = np.maximum(p, 0.0)
    if not np.array_equal(p, anchor_p):
        bound, _, _ = ev(anchor_p, write=True)
        best = min(best, bound)
    return _Search(anchor_p, best, it, anchor_u, trace)


def _stalled(ev: _Evaluator, cons: _Constraints, s: _Search, tol: float) -> bool:
    """Whether a search ended with some priced constraint still off balance."""
    return _violation(ev, cons.active & ~cons.blocked, s.prices, s.usage) > tol


def _cut_master(
    cuts: list[tuple[float, F64, F64]],
    center: F64,
    best: float,
    lo: F64,
    hi: F64,
    scale: F64,
) -> tuple[F64, float] | None:
    """Minimise the cutting-plane model of ``L`` over the box ``[lo, hi]`` (an LP).

    ``cuts`` are ``(L(p_j), p_j, g_j)`` restricted to the free prices. The LP
    is posed in steps from ``center`` in units of ``scale`` and in ``L``
    relative to ``best``, so its coefficients are O(1) whatever the currency.
    Returns (prices, model value) or None when the LP solver gives up.
    """
    k = center.size
    unit = max(abs(best), 1.0)
    h = mbh.ModelBuilderHelper()
    # variables: the k price steps, then z (the model's L)
    lower = np.append((lo - center) / scale, -np.inf)
    upper = np.append((hi - center) / scale, np.inf)
    integral = np.zeros(k + 1, np.bool_)
    xv = h.add_var_array_with_bounds(lower, upper, integral, "d")  # type: ignore[arg-type]
    idx = [int(xv[k])] + [int(xv[q]) for q in range(k)]
    h.set_objective_coefficients([idx[0]], [1.0])
    h.set_maximize(False)
    for value, at, g in cuts:
        # z >= L_j + g_j . (p - p_j), with p = center + scale * d
        ct = h.add_linear_constraint()
        h.set_constraint_lower_bound(ct, (value - best + float(g @ (center - at))) / unit)
        h.set_constraint_upper_bound(ct, np.inf)
        for var, coef in zip(idx, [1.0, *(-g * scale / unit).tolist()], strict=True):
            h.add_term_to_constraint(ct, var, coef)
    solver = mbh.ModelSolverHelper("glop")
    solver.solve(h)
    if solver.status() != mbh.SolveStatus.OPTIMAL:
        return None
    vals = np.asarray(solver.variable_values())
    prices = np.clip(center + scale * vals[:k], lo, hi)
    return prices, best + float(vals[k]) * unit


def _bundle(
    ev: _Evaluator, cons: _Constraints, start: F64, ref: F64, iters: int, tol: float
) -> _Search:
    """Minimise the dual ``L`` by cutting planes in a trust region (box) of prices.

    Newton on use = capacity stalls when the slots are near-perfect
    substitutes: every customer ranks the hours alike, so a few percent on one
    price moves a slot's whole demand to its neighbour, use flips between 0 and
    many times the room, and the measured slopes are noise. ``L`` itself is
    convex and each evaluation gives a subgradient ``cap - use``, so the LP over
    the cuts collected so far, inside a box around the best prices, always
    points somewhere useful. The box grows after a step that delivers at least
    a tenth of the predicted decrease and shrinks otherwise; the search stops
    when the model promises less than ``tol`` relative improvement.

    ``ref`` sets the price scale of constraints that start at zero. Every
    evaluated ``L`` is a valid bound; the evaluator's choice is left at the
    returned (best) prices.
    """
    free = np.flatnonzero(cons.active & ~cons.blocked)
    if free.size == 0 or iters <= 0:
        return _Search(start, np.inf, 0, np.zeros(start.size), [])
    scale = np.maximum(np.maximum(start[free], ref[free]), 1e-9)
    center = start.copy()
    best, _, u_best = ev(center, write=True)
    at_center = True
    cuts = [(best, center[free].copy(), ev.cap[free] - u_best[free])]
    delta = scale.copy()
    trace = [_violation(ev, cons.active & ~cons.blocked, center, u_best)]
    steps = 0
    for _ in range(iters):
        lo = np.maximum(center[free] - delta, 0.0)
        hi = center[free] + delta
        step = _cut_master(cuts, center[free], best, lo, hi, scale)
        if step is None:
            break
        cand, predicted = step
        if best - predicted <= tol * abs(best):
            break
        p = center.copy()
        p[free] = cand
        value, _, u = ev(p, write=True)
        steps += 1
        cuts.append((value, cand, ev.cap[free] - u[free]))
        trace.append(_violation(ev, cons.active & ~cons.blocked, p, u))
        if value <= best - 0.1 * (best - predicted):
            center, best, u_best, at_center = p, value, u, True
            delta = delta * 1.5
        else:
            at_center = False
            delta = delta * 0.5
    if not at_center:
        ev(center, write=True)
    return _Search(center, best, steps, u_best, trace)


def _initial_guess(problem: Problem, cons: _Constraints) -> F64:
    n_sl = problem.n_slots
    init = np.zeros(cons.cap.size)
    vmax = float(problem.value.max(initial=0.0))
    init[n_sl:] = 0.01 * vmax / np.maximum(problem.budget_per_attempt, 1e-12)
    hmean = float(problem.handle_minutes.mean()) if problem.n_customers else 1.0
    init[:n_sl] = 0.01 * vmax / max(hmean, 1e-6)
    return init


def _usage(ev: _Evaluator) -> F64:
    p = ev.p
    vuse, cuse = kernel.usage_of(
        ev.choice, p.handle_minutes, p.n_channels, p.n_slots, p.voice_channel
    )
    return np.concatenate([vuse, cuse * p.budget_per_attempt])


def _repair(ev: _Evaluator, cons: _Constraints) -> int:
    """Drop the lowest-loss attempts until every constraint fits; returns drops.

    Voice slots first, then channel budgets (dropping a voice attempt also
    frees voice budget); attempts of an over-used constraint are ranked by
    value lost per unit of room freed.
    """
    p = ev.p
    n_sl = p.n_slots
    choice = ev.choice
    dropped = 0
    for _round in range(3):
        for group in (np.arange(n_sl), np.arange(n_sl, cons.cap.size)):
            excess = np.where(cons.active, _usage(ev) - cons.cap, 0.0)
            over = np.zeros(cons.cap.size, np.bool_)
            over[group] = excess[group] > 1e-9
            if not over.any():
                continue
            rows, cols, ks = kernel.attempts_on(choice, n_sl, p.voice_channel, over)
            losses = kernel.removal_losses(p.value, p.cost, choice, ev.rho, rows, cols)
            for k in np.flatnonzero(over):
                sel = ks == k
                r, c, loss = rows[sel], cols[sel], losses[sel]
                if k < n_sl:
                    use = p.handle_minutes[r].astype(np.float64)
                else:
                    use = np.full(r.size, p.budget_per_attempt[k - n_sl])
                density = loss / np.maximum(use, 1e-12)
                order = np.argsort(density, kind="stable")
                cum = np.cumsum(use[order])
                take = order[: int(np.searchsorted(cum, excess[k] - 1e-9)) + 1]
                codes = choice[r[take], c[take]].astype(np.int64)
                kernel.remove_many(choice, r[take], codes)
                dropped += int(take.size)
    return dropped


def _fill(ev: _Evaluator, cons: _Constraints, prices: F64) -> int:
    """Add the best remaining attempts (by priced marginal value) into the room left."""
    p = ev.p
    n_sl = p.n_slots
    room = np.where(cons.active, cons.cap - _usage(ev), np.inf)
    pr = np.where(prices >= _BLOCK, 0.0, prices)
    vroom = np.ascontiguousarray(room[:n_sl])
    broom = np.ascontiguousarray(room[n_sl:])
    cust, code, score = kernel.fill_candidates(
        ev.day,
        np.ascontiguousarray(pr[n_sl:]),
        np.ascontiguousarray(pr[:n_sl]),
        ev.rho,
        ev.choice,
        vroom,
        broom,
    )
    if score.size > _FILL_CANDIDATES:
        top = np.argpartition(-score, _FILL_CANDIDATES)[:_FILL_CANDIDATES]
        cust, code, score = cust[top], code[top], score[top]
    order = np.argsort(-score, kind="stable")
    return int(kernel.fill(ev.day, ev.rho, ev.choice, vroom, broom, cust[order], code[order]))


def _marginal_pass(ev: _Evaluator, cons: _Constraints, prices: F64, params: Params) -> int:
    """Re-solve exactly the customers whose choice moves when prices move."""
    p = ev.p
    n_sl = p.n_slots
    if params.marginal_max_customers <= 0 or p.n_customers == 0:
        return 0
    # marginal customers: those with a priced attempt, the most nearly
    # indifferent first (net value small against the price of the room it
    # takes); below marginal_max_customers that is everyone competing for room
    pr = np.where(prices >= _BLOCK, 0.0, prices)
    score = np.full(p.n_customers, np.inf)
    chunk = 1 << 16
    for s in range(0, p.n_customers, chunk):
        e = min(p.n_customers, s + chunk)
        charge = np.broadcast_to(
            (pr[n_sl:] * p.budget_per_attempt)[None, :, None], (e - s, p.n_channels, n_sl)
        ).copy()
        if p.voice_channel >= 0:
            charge[:, p.voice_channel, :] += pr[None, :n_sl] * p.handle_minutes[s:e, None]
        net = p.value[s:e] - p.cost[None, :, None] - charge
        ok = p.allowed[s:e] & (charge > 0) & (p.max_per_channel[s:e, :, None] > 0)
        ok &= (p.max_attempts[s:e] > 0)[:, None, None]
        ratio = np.where(ok, np.abs(net) / np.where(ok, charge, 1.0), np.inf)
        score[s:e] = ratio.reshape(e - s, -1).min(axis=1)
    cand = np.flatnonzero(np.isfinite(score))
    if cand.size == 0:
        return 0
    moved = np.sort(cand[np.argsort(score[cand], kind="stable")[: params.marginal_max_customers]])
    keep = np.ones(p.n_customers, bool)
    keep[moved] = False
    rest = ev.choice.copy()
    rest[moved] = -1
    vuse, cuse = kernel.usage_of(rest, p.handle_minutes, p.n_channels, n_sl, p.voice_channel)
    room = np.maximum(cons.cap - np.concatenate([vuse, cuse * p.budget_per_attempt]), 0.0)
    sub = p.subset(moved)
    before = kernel.objective_of(sub.value, sub.cost, ev.choice[moved], ev.rho)
    res = solve_exact(
        sub,
        ev.rho,
        voice_cap=room[:n_sl],
        budget=np.where(cons.active[n_sl:], room[n_sl:], np.inf),
        time_limit_s=params.marginal_time_limit_s,
        with_duals=False,
    )
    if res.objective > before + 1e-9:
        ev.choice[moved] = res.choice
        return int(moved.size)
    return 0


def _sample_prices(
    problem: Problem,
    params: Params,
    cons: _Constraints,
    init: F64,
    population: Callable[[int], _Evaluator],
    stats: dict[str, float | int | str],
) -> tuple[_Search, F64, _Evaluator, _Evaluator]:
    """Stages 1 and 2 of the price search: rough prices on a small sample, then
    the use-to-price slopes and refined prices on a larger one.

    ``population(size)`` is an evaluator over that many customers (everyone
    when ``size >= N``). Returns (the warm start, its Jacobian scaled to all
    N customers, the rough and the fine evaluators); records iterations in ``stats``.
    """
    n = problem.n_customers
    # smaller days get smaller samples, so the samples stay a small share
    rough_n = min(n, params.sample_size_rough, max(2_000, n // 20))
    fine_n = min(n, params.sample_size, max(rough_n, n // 5))
    rough = population(rough_n)
    warm = _rprop(rough, cons, init, 25, 5e-3)
    stats["rough_sample_iterations"] = warm.iterations
    fine = rough if fine_n <= rough_n else population(fine_n)
    if fine is not rough:
        _, _, u0 = fine(warm.prices)
        warm = _Search(warm.prices, np.inf, 0, u0, [])
    jac = _jacobian(fine, cons, warm, 1.0)
    if fine.p is not problem:
        refined = _newton(fine, cons, warm.prices, jac, 4, params.usage_tolerance)
        if _stalled(fine, cons, refined, params.usage_tolerance):
            refined = _bundle(
                fine, cons, refined.prices, init, params.bundle_iterations, params.gap_tolerance
            )
            stats["fine_sample_bundle_iterations"] = refined.iterations
        warm = refined
        stats["fine_sample_iterations"] = refined.iterations
    jac *= n / fine.p.n_customers
    return warm, jac, rough, fine


def _full_prices(
    ev: _Evaluator,
    cons: _Constraints,
    warm: _Search,
    jac: F64,
    init: F64,
    params: Params,
    stats: dict[str, float | int | str],
    warm_is_everyone: bool,
) -> _Search:
    """Stage 3 of the price search: Newton on every customer from the warm start,
    then cutting planes if Newton leaves a constraint off balance.

    ``warm_is_everyone``: the warm start's bound was evaluated on the full
    population, so it is a valid bound too. Records iterations in ``stats``.
    """
    s = _newton(ev, cons, warm.prices, jac, params.max_iterations, params.usage_tolerance)
    if warm_is_everyone:
        s = _Search(s.prices, min(s.bound, warm.bound), s.iterations, s.usage, s.trace)
    stats["price_iterations"] = s.iterations
    if _stalled(ev, cons, s, params.usage_tolerance):
        # Newton could not balance use (substitute slots): minimise L directly;
        # every L evaluated on the way, Newton's included, is a valid bound
        b = _bundle(ev, cons, s.prices, init, params.bundle_iterations, params.gap_tolerance)
        stats["bundle_iterations"] = b.iterations
        s = _Search(b.prices, min(s.bound, b.bound), s.iterations, b.usage, s.trace + b.trace)
    return s


def solve_scale(
    problem: Problem, params: Params, clock: Callable[[], float] | None
) -> tuple[I16, float, F64, dict[str, float | int | str], dict[str, float]]:
    """Returns (choice, upper bound, prices [T + C], stats, seconds by phase)."""
    rho = params.repeat_value_factor
    cons = _constraints(problem)
    phases: dict[str, float] = {}
    tick = clock() if clock else 0.0

    def mark(name: str) -> None:
        nonlocal tick
        if clock:
            now = clock()
            phases[name] = phases.get(name, 0.0) + now - tick
            tick = now

    init = _initial_guess(problem, cons)
    n = problem.n_customers
    stats: dict[str, float | int | str] = {}
    if n == 0:
        empty = np.full((0, MAX_ATTEMPTS_PER_DAY), -1, np.int16)
        return empty, 0.0, np.zeros(cons.cap.size), stats, phases
    rng = np.random.default_rng(params.seed)
    order = rng.permutation(n)

    def population(size: int) -> _Evaluator:
        if size >= n:
            return _Evaluator(problem, rho, cons, 1.0, params.parallel)
        idx = np.sort(order[:size])
        return _Evaluator(problem.subset(idx), rho, cons, size / n, params.parallel)

    # 1) rough prices on a small sample, 2) slopes and refined prices on a
    # larger one, 3) Newton on everyone: each stage starts where the last ended
    warm, jac, rough, fine = _sample_prices(problem, params, cons, init, population, stats)
    mark("sample_prices")
    ev = fine if fine.p is problem else population(n)
    s = _full_prices(ev, cons, warm, jac, init, params, stats, rough.p is problem)
    mark("full_prices")
    upper = s.bound
    stats["repaired_attempts"] = _repair(ev, cons)
    stats["filled_attempts"] = _fill(ev, cons, s.prices)
    mark("primal")
    obj = kernel.objective_of(problem.value, problem.cost, ev.choice, rho)
    gap = (upper - obj) / max(abs(upper), 1e-9)
    stats["gap_before_exact_pass"] = gap
    if gap > params.gap_tolerance:
        stats["exact_pass_customers"] = _marginal_pass(ev, cons, s.prices, params)
        mark("exact_pass")
    stats["kernel_evaluations"] = ev.evaluations
    stats["full_trace"] = " ".join(f"{x:.1e}" for x in s.trace)
    return ev.choice, upper, s.prices, stats, phases
