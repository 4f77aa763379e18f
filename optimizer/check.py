"""Independent plan checker: every hard constraint, recomputed from scratch.

Deliberately shares no code with the solvers (plain numpy over the plan's
flat attempt arrays), so a bug in a kernel cannot hide itself here.
"""

from __future__ import annotations

import numpy as np

from optimizer.problem import Plan, Problem


def check_plan(problem: Problem, plan: Plan, tol: float = 1e-6) -> list[str]:
    """Return one message per violated hard constraint (empty when the plan is valid)."""
    errors: list[str] = []
    n, n_ch, n_sl = problem.value.shape
    i = plan.customer.astype(np.int64)
    c = plan.channel.astype(np.int64)
    t = plan.slot.astype(np.int64)
    if not (i.size == c.size == t.size == plan.rank.size):
        return ["plan arrays have different lengths"]
    if i.size == 0:
        return errors
    if i.min() < 0 or i.max() >= n or c.min() < 0 or c.max() >= n_ch or t.min() < 0:
        return ["plan refers to a customer, channel or slot outside the problem"]
    if t.max() >= n_sl:
        return ["plan refers to a slot outside the problem"]
    if np.any(np.diff(i) < 0):
        errors.append("attempts are not sorted by customer")
    bad = np.flatnonzero(~problem.allowed[i, c, t])
    errors += [f"customer {i[k]}: {c[k]}@{t[k]} is not allowed" for k in bad[:20]]
    per_cust = np.bincount(i, minlength=n)
    over = np.flatnonzero(per_cust > problem.max_attempts)
    errors += [f"customer {k}: {per_cust[k]} attempts > {problem.max_attempts[k]}" for k in over]
    per_ch = np.bincount(i * n_ch + c, minlength=n * n_ch).reshape(n, n_ch)
    for k, ch in zip(*np.nonzero(per_ch > problem.max_per_channel), strict=True):
        errors.append(f"customer {k}: {per_ch[k, ch]} attempts on channel {ch} over its limit")
    per_slot = np.bincount(i * n_sl + t, minlength=n * n_sl).reshape(n, n_sl)
    for k, sl in zip(*np.nonzero(per_slot > 1), strict=True):
        errors.append(f"customer {k}: {per_slot[k, sl]} attempts in slot {sl}")
    if problem.voice_channel >= 0:
        sel = c == problem.voice_channel
        minutes = np.bincount(
            t[sel], weights=problem.handle_minutes[i[sel]].astype(np.float64), minlength=n_sl
        )
        cap = problem.voice_capacity()
        for sl in np.flatnonzero(minutes > cap * (1 + tol) + tol):
            errors.append(f"slot {sl}: {minutes[sl]:.3f} voice minutes > capacity {cap[sl]:.3f}")
    spent = np.bincount(c, minlength=n_ch) * problem.budget_per_attempt
    for ch in np.flatnonzero(spent > problem.budget * (1 + tol) + tol):
        errors.append(f"channel {ch}: budget {spent[ch]:.3f} > {problem.budget[ch]:.3f}")
    return errors


def plan_objective(problem: Problem, plan: Plan, repeat_value_factor: float) -> float:
    """``sum_i f_i(S_i)`` of a plan, recomputed independently of the solvers."""
    if plan.customer.size == 0:
        return 0.0
    i = plan.customer.astype(np.int64)
    c = plan.channel.astype(np.int64)
    v = problem.value[i, c, plan.slot.astype(np.int64)].astype(np.float64)
    vmax = np.zeros(problem.n_customers)
    np.maximum.at(vmax, i, v)
    rho = repeat_value_factor
    return float((rho * v - problem.cost[c]).sum() + (1.0 - rho) * vmax.sum())
