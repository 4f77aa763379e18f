"""Staffing what-if: how many agents per slot pay for themselves.

An agent costs ``cost_per_agent_hour`` and offers ``60 * occupancy`` productive
minutes an hour, so voice time is worth buying while its marginal value per
minute exceeds ``cost_per_agent_hour / (60 * occupancy)``. Pricing every voice
slot at that rate (message budgets kept at the plan's prices) and solving the
customers' subproblems gives the minutes each slot would use: that is the
optimal staffing when agents can be added slot by slot. Repeating it over a
grid of prices traces each slot's marginal value curve (value of the n-th
agent-hour). With a minimum shift length, CP-SAT picks whole shifts against
those concave curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from optimizer import kernel
from optimizer.problem import F64, MAX_ATTEMPTS_PER_DAY, Params, Plan, Problem


@dataclass(frozen=True)
class Staffing:
    """Recommended agents and the curves behind them.

    Attributes:
        agents: ``[T]`` recommended agents per slot.
        agent_hour_value: ``[G]`` marginal value of one agent-hour at each grid point.
        agents_at_value: ``[G, T]`` agents per slot worth having at that marginal value.
        net_value: expected value of the voice-priced plan minus the agents' cost.
        shifts: ``(start slot, length in slots, agents)`` when shifts were required.
    """

    agents: F64
    agent_hour_value: F64
    agents_at_value: F64
    net_value: float
    shifts: list[tuple[int, int, int]]


def _demand(problem: Problem, plan: Plan, minute_price: float, rho: float) -> tuple[F64, float]:
    n_sl = problem.n_slots
    choice = np.full((problem.n_customers, MAX_ATTEMPTS_PER_DAY), -1, np.int16)
    _, primal, vuse, _ = kernel.evaluate(
        kernel.day_arrays(problem),
        np.ascontiguousarray(plan.budget_price),
        np.full(n_sl, minute_price),
        rho,
        choice,
        False,
    )
    return vuse, float(primal)


def staffing(
    problem: Problem,
    plan: Plan,
    cost_per_agent_hour: float,
    params: Params | None = None,
    grid: int = 12,
    min_shift_slots: int | None = None,
    time_limit_s: float = 10.0,
) -> Staffing:
    """Agents per slot maximising value net of agent cost, with marginal value curves."""
    params = params or Params()
    if problem.voice_channel < 0:
        raise ValueError("staffing: the problem has no voice channel")
    if cost_per_agent_hour <= 0:
        raise ValueError(f"staffing: cost_per_agent_hour must be > 0, got {cost_per_agent_hour}")
    rho = params.repeat_value_factor
    per_agent = problem.slot_minutes * problem.occupancy  # productive minutes per agent-slot
    minute_cost = cost_per_agent_hour / (60.0 * problem.occupancy)
    hours_per_slot = problem.slot_minutes / 60.0
    minutes, primal = _demand(problem, plan, minute_cost, rho)
    agents = np.floor(minutes / per_agent + 0.5)
    net = primal - cost_per_agent_hour * hours_per_slot * float(agents.sum())
    factors = np.geomspace(4.0, 0.25, grid)
    prices = minute_cost * factors
    curve = np.stack([_demand(problem, plan, float(m), rho)[0] / per_agent for m in prices])
    shifts: list[tuple[int, int, int]] = []
    if min_shift_slots is not None:
        agents, shifts = _shifts(
            curve,
            prices * per_agent,
            cost_per_agent_hour * hours_per_slot,
            min_shift_slots,
            time_limit_s,
        )
    return Staffing(agents, prices * 60.0 * problem.occupancy, curve, net, shifts)


def _shifts(
    curve: F64, value_per_agent: F64, cost_per_agent_slot: float, min_len: int, time_limit_s: float
) -> tuple[F64, list[tuple[int, int, int]]]:
    """CP-SAT: whole shifts of at least ``min_len`` slots against concave value curves.

    ``curve[g, t]`` agents are worth ``value_per_agent[g]`` at the margin
    (grid from high to low value), which makes each slot's value of n agents
    a concave piecewise-linear function, modelled by its tangent cuts.
    """
    n_sl = curve.shape[1]
    if not 1 <= min_len <= n_sl:
        raise ValueError(f"staffing: min_shift_slots must be in [1, {n_sl}], got {min_len}")
    scale = 100.0  # CP-SAT needs integers: values in cents
    cap = int(np.ceil(curve.max(initial=0.0))) + 1
    m = cp_model.CpModel()
    y = {
        (s, ln): m.new_int_var(0, cap, f"y{s}_{ln}")
        for s in range(n_sl)
        for ln in range(min_len, n_sl - s + 1)
    }
    objective = []
    for t in range(n_sl):
        n_t = m.new_int_var(0, cap * n_sl, f"n{t}")
        m.add(n_t == sum(v for (s, ln), v in y.items() if s <= t < s + ln))
        z = m.new_int_var(0, int(scale * float(value_per_agent[0]) * cap * n_sl) + 1, f"z{t}")
        prev_n, prev_v = 0.0, 0.0
        for g in range(curve.shape[0]):
            slope = float(value_per_agent[g])
            m.add(z * 1 <= int(scale * (prev_v - slope * prev_n)) + int(scale * slope) * n_t)
            nxt = max(float(curve[g, t]), prev_n)
            prev_v += slope * (nxt - prev_n)
            prev_n = nxt
        m.add(z <= int(scale * prev_v))
        objective.append(z)
    cost = round(scale * cost_per_agent_slot)
    m.maximize(sum(objective) - sum(cost * ln * v for (_, ln), v in y.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"staffing: CP-SAT found no shift plan ({solver.status_name(status)})")
    agents = np.zeros(n_sl)
    shifts = []
    for (s, ln), v in y.items():
        k = int(solver.value(v))
        if k:
            shifts.append((s, ln, k))
            agents[s : s + ln] += k
    return agents, sorted(shifts)
