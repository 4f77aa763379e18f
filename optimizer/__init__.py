"""The daily contact plan: value model, exact and scale solvers, baselines.

Pure: arrays and dataclasses in, a plan out (OR-Tools for the exact path,
Lagrangian decomposition for scale). No I/O, no clock reads.
May import: third-party libraries only. Never ``campaigns``, ``compliance``,
``dialer`` or ``channels``.
"""

from optimizer.baselines import greedy_baseline, rule_baseline
from optimizer.check import check_plan, plan_objective
from optimizer.explain import Explanation, Option, explain, explain_left_out
from optimizer.problem import MAX_ATTEMPTS_PER_DAY, Params, Plan, Problem, ProblemError
from optimizer.solve import solve
from optimizer.staffing import Staffing, staffing
from optimizer.value import (
    AmountModel,
    History,
    Priors,
    Rates,
    estimate_rates,
    expected_amount,
    value_array,
)

__all__ = [
    "MAX_ATTEMPTS_PER_DAY",
    "AmountModel",
    "Explanation",
    "History",
    "Option",
    "Params",
    "Plan",
    "Priors",
    "Problem",
    "ProblemError",
    "Rates",
    "Staffing",
    "check_plan",
    "estimate_rates",
    "expected_amount",
    "explain",
    "explain_left_out",
    "greedy_baseline",
    "plan_objective",
    "rule_baseline",
    "solve",
    "staffing",
    "value_array",
]
