"""Baselines, explanations and the staffing what-if on real solves."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer as o
from optimizer.synthetic import HOURS, synthetic_problem
from tests.optimizer.instances import random_problem

LABELS = [f"{h:02d}:00" for h in HOURS]


@pytest.fixture(scope="module")
def day() -> tuple[o.Problem, o.Plan]:
    problem = synthetic_problem(5000, seed=11)
    return problem, o.solve(problem, o.Params(method="scale"))


def test_baselines_are_valid_and_the_optimum_beats_them(day: tuple[o.Problem, o.Plan]) -> None:
    problem, plan = day
    rule = o.rule_baseline(problem)
    greedy = o.greedy_baseline(problem)
    for baseline in (rule, greedy):
        assert o.check_plan(problem, baseline) == []
        assert baseline.objective <= plan.upper_bound
        assert baseline.objective < plan.objective
    assert rule.objective < greedy.objective
    # the rule gives one attempt per customer, never more
    assert np.bincount(rule.customer).max() == 1


def test_rule_baseline_follows_its_tiers() -> None:
    problem = random_problem(1, n=30, agents_per_slot=50.0, sms_budget=100.0)
    fields = {k: getattr(problem, k) for k in problem.__dataclass_fields__}
    fields.update(
        allowed=np.ones_like(problem.allowed),
        max_attempts=np.ones(30, np.uint8),
        max_per_channel=np.ones((30, 3), np.uint8),
    )
    problem = o.Problem(**fields)
    balance = np.arange(30, 0, -1, dtype=np.float64)  # customer 0 owes most
    plan = o.rule_baseline(problem, balance=balance, preferred_slot=(2, 0, 5))
    channel = dict(zip(plan.customer.tolist(), plan.channel.tolist(), strict=True))
    slot = dict(zip(plan.customer.tolist(), plan.slot.tolist(), strict=True))
    assert [channel[i] for i in range(10)] == [0] * 10
    assert [channel[i] for i in range(10, 20)] == [1] * 10
    assert [channel[i] for i in range(20, 30)] == [2] * 10
    assert slot[0] == 2 and slot[15] == 0 and slot[25] == 5


def test_explain_every_kind_of_decision(day: tuple[o.Problem, o.Plan]) -> None:
    problem, plan = day
    reasons: dict[str, o.Explanation] = {}
    for i in range(problem.n_customers):
        e = o.explain(problem, plan, i, LABELS)
        reasons.setdefault(e.reason, e)
    assert {"contacted", "compliance-blocked", "priced-out"} <= set(reasons)
    contacted = reasons["contacted"]
    assert contacted.chosen and all(opt.slot in LABELS for opt in contacted.chosen)
    # a later attempt is explained at the share of its value it is worth
    twice = next(i for i in range(problem.n_customers) if len(plan.attempts_of(i)) > 1)
    second = o.explain(problem, plan, twice, LABELS).chosen[1]
    c, t = plan.attempts_of(twice)[1]
    assert second.value == pytest.approx(plan.repeat_value_factor * problem.value[twice, c, t])
    assert contacted.summary.startswith(contacted.chosen[0].channel)
    priced = reasons["priced-out"]
    assert priced.best_alternative is not None
    alt = priced.best_alternative
    assert alt.value - alt.cost > 0 >= alt.net
    assert "/min" in priced.summary or "/unit" in priced.summary
    blocked = reasons["compliance-blocked"]
    assert (
        not problem.allowed[blocked.customer].any()
        or (problem.max_per_channel[blocked.customer] == 0).all()
    )


def test_explain_low_value_and_no_attempts() -> None:
    problem = random_problem(2, n=3, agents_per_slot=10.0, sms_budget=10.0)
    fields = {k: getattr(problem, k) for k in problem.__dataclass_fields__}
    value = problem.value.copy()
    value[1] = 0.001
    fields.update(
        value=value,
        allowed=np.ones_like(problem.allowed),
        max_attempts=np.array([0, 2, 2], np.uint8),
        max_per_channel=np.ones((3, 3), np.uint8),
    )
    problem = o.Problem(**fields)
    plan = o.solve(problem)
    assert o.explain(problem, plan, 0).reason == "no-attempts-left"
    assert o.explain(problem, plan, 1).reason == "low-value"
    assert o.explain(problem, plan, 2).reason == "contacted"
    with pytest.raises(ValueError, match="customer index 7"):
        o.explain(problem, plan, 7)


def test_staffing_buys_fewer_agents_when_they_cost_more(day: tuple[o.Problem, o.Plan]) -> None:
    problem, plan = day
    cheap = o.staffing(problem, plan, cost_per_agent_hour=15.0)
    dear = o.staffing(problem, plan, cost_per_agent_hour=400.0)
    assert cheap.agents.sum() > dear.agents.sum()
    assert np.all(cheap.agents >= dear.agents)
    # the marginal value curve: fewer agents are worth having as their value must rise
    assert np.all(np.diff(cheap.agents_at_value, axis=0) >= -1e-9)
    assert np.all(np.diff(cheap.agent_hour_value) < 0)
    forbidding = o.staffing(problem, plan, cost_per_agent_hour=1e9)
    assert forbidding.agents.sum() == 0


def test_staffing_with_minimum_shift_length(day: tuple[o.Problem, o.Plan]) -> None:
    problem, plan = day
    result = o.staffing(problem, plan, cost_per_agent_hour=25.0, min_shift_slots=4)
    assert result.shifts
    for start, length, count in result.shifts:
        assert length >= 4 and start + length <= problem.n_slots and count > 0
    covered = np.zeros(problem.n_slots)
    for start, length, count in result.shifts:
        covered[start : start + length] += count
    assert np.array_equal(covered, result.agents)
    with pytest.raises(ValueError, match="min_shift_slots"):
        o.staffing(problem, plan, 25.0, min_shift_slots=40)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_explaining_the_left_out_at_once_says_what_one_by_one_says(
    day: tuple[o.Problem, o.Plan], seed: int
) -> None:
    """The planner explains every left-out customer at once; each must read as ``explain``'s."""
    problems = [day] if seed == 3 else []
    small = random_problem(seed, n=400, agents_per_slot=2.0, sms_budget=40.0)
    problems.append((small, o.solve(small, o.Params(method="scale"))))
    for problem, plan in problems:
        planned = np.bincount(plan.customer, minlength=problem.n_customers)
        left = np.flatnonzero(planned == 0)
        labels = LABELS if problem.n_slots == len(LABELS) else None
        batch = o.explain_left_out(problem, plan, left, labels)
        one_by_one = [o.explain(problem, plan, int(i), labels) for i in left]
        assert batch == one_by_one
        assert {e.reason for e in batch} - {"contacted"} == {e.reason for e in one_by_one}
    assert o.explain_left_out(problem, plan, np.array([], np.int64)) == []  # nobody left out
