"""Pacing, its estimators, the abandon budget and the VICIdial baseline on hand-computed cases."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.abandon_budget import AbandonBudget, AbandonRule, DayCount, RuleWindow
from dialer.estimators import AnswerModel, CallOutcome, DurationModel
from dialer.pacing import (
    AgentState,
    AgentView,
    Mode,
    Pacer,
    PacingConfig,
    PacingSnapshot,
    normal_cdf,
    progressive_calls,
)
from dialer.vicidial import AdaptMethod, VicidialAdaptive, VicidialConfig

DAY = dt.date(2026, 3, 2)


def agents(ready: int = 0, talking: float | None = None, n_talking: int = 0) -> list[AgentView]:
    out = [AgentView(AgentState.READY, 5.0) for _ in range(ready)]
    out += [AgentView(AgentState.TALKING, talking or 0.0) for _ in range(n_talking)]
    return out


def warm_pacer(mode: Mode = Mode.PREDICTIVE, *, live: int = 1000, abandoned: int = 0) -> Pacer:
    """A pacer past warm-up whose budget today holds ``0.03 * live - abandoned``."""
    cfg = PacingConfig(mode=mode, warmup_calls=0, warmup_handles=0)
    budget = AbandonBudget(cfg.rule, {DAY: DayCount(live, abandoned)})
    return Pacer(cfg, budget)


def snap(agent_list: list[AgentView], ringing: list[float] | None = None, waiting: int = 0):
    return PacingSnapshot(
        now=100.0, day=DAY, agents=agent_list, ringing=ringing or [], waiting_live=waiting
    )


# ---- pacing: the cases the issue names ---------------------------------------


def test_no_free_agent_and_nobody_freeing_dials_nothing() -> None:
    # 10 agents 0 s into calls averaging 180 s, wrap-up 30 s: nobody can be
    # free within the 42 s horizon, so any call would be abandoned.
    p = warm_pacer()
    d = p.decide(snap(agents(n_talking=10, talking=0.0)))
    assert d.mode is Mode.PREDICTIVE
    assert d.calls == 0


def test_paused_agents_are_not_supply() -> None:
    p = warm_pacer()
    paused = [AgentView(AgentState.PAUSED, 400.0) for _ in range(5)]
    assert p.decide(snap(paused)).calls == 0


def test_budget_spent_never_dials_more_than_free_agents() -> None:
    # 1000 live answers, 30 abandoned: 3 % of 1000 is spent.
    p = warm_pacer(live=1000, abandoned=30)
    d = p.decide(snap(agents(ready=5, n_talking=20, talking=170.0), ringing=[3.0, 8.0]))
    assert d.mode is Mode.PROGRESSIVE
    assert d.reason.startswith("hard stop")
    assert d.calls == 5 - 2


def test_preview_never_dials() -> None:
    p = warm_pacer(Mode.PREVIEW)
    assert p.decide(snap(agents(ready=30))).calls == 0


def test_progressive_is_free_agents_minus_ringing() -> None:
    p = warm_pacer(Mode.PROGRESSIVE)
    assert p.decide(snap(agents(ready=5), ringing=[1.0, 2.0])).calls == 3
    assert p.decide(snap(agents(ready=1), ringing=[1.0, 2.0, 3.0, 4.0])).calls == 0
    assert p.decide(snap(agents(ready=4), ringing=[1.0], waiting=1)).calls == 2


def test_predictive_overdials_free_agents_but_less_than_answers_would_fill() -> None:
    # 20 free agents, live rate 0.25: one call per agent leaves most idle, and
    # 80 calls would bring about 20 live answers at once, half of them too many.
    p = warm_pacer()
    d = p.decide(snap(agents(ready=20)))
    assert 20 < d.calls < 80
    assert 0 < d.marginal_abandon <= d.threshold


def test_predictive_dials_ahead_for_agents_in_wrapup() -> None:
    # Wrap-up lasts 30 s: agents 25 s into it are free in 5 s, before the
    # shortest ring (4 s in the prior) plus the 2 s grace has passed; agents
    # 1 s into it are free in 29 s, after any live answer.
    p = warm_pacer()
    wrapping = [AgentView(AgentState.WRAPUP, 25.0) for _ in range(20)]
    early = [AgentView(AgentState.WRAPUP, 1.0) for _ in range(20)]
    assert p.decide(snap(wrapping)).calls > 0
    assert p.decide(snap(early)).calls == 0


def test_warm_up_is_progressive_until_the_campaign_has_data() -> None:
    p = Pacer(PacingConfig(), AbandonBudget(AbandonRule(), {DAY: DayCount(1000, 0)}))
    d = p.decide(snap(agents(ready=7), ringing=[2.0]))
    assert d.mode is Mode.PROGRESSIVE and d.reason.startswith("warm-up")
    assert d.calls == 6


def test_max_lines_caps_calls_in_flight() -> None:
    cfg = PacingConfig(max_lines=25, warmup_calls=0, warmup_handles=0)
    p = Pacer(cfg, AbandonBudget(cfg.rule, {DAY: DayCount(1000, 0)}))
    ringing = [1.0] * 20
    assert p.decide(snap(agents(ready=40), ringing=ringing)).calls == 5


@settings(max_examples=60, deadline=None)
@given(
    ready=st.integers(0, 40),
    talking=st.lists(st.floats(0, 600), max_size=40),
    ringing=st.lists(st.floats(0, 40), max_size=60),
    waiting=st.integers(0, 3),
    abandoned=st.integers(30, 60),
)
def test_spent_budget_never_exceeds_progressive(
    ready: int, talking: list[float], ringing: list[float], waiting: int, abandoned: int
) -> None:
    p = warm_pacer(live=1000, abandoned=abandoned)
    views = agents(ready=ready) + [AgentView(AgentState.TALKING, t) for t in talking]
    s = snap(views, ringing, waiting)
    assert p.decide(s).calls == progressive_calls(s) <= ready


def test_controller_tightens_on_abandons_and_loosens_on_served_calls() -> None:
    p = warm_pacer()
    p.decide(snap(agents(ready=10)))  # puts the pacer in predictive mode
    start = p.base_threshold
    p.record_live_answer(DAY, abandoned=True)
    assert p.base_threshold < start
    low = p.base_threshold
    for _ in range(200):
        p.record_live_answer(DAY, abandoned=False)
    assert p.base_threshold > low
    assert p.config.min_threshold <= p.threshold <= p.config.max_threshold


def test_normal_cdf_matches_tables() -> None:
    got = normal_cdf(np.array([0.0, 1.0, -1.0, 1.959964]))
    assert got == pytest.approx([0.5, 0.841345, 0.158655, 0.975], abs=1e-6)


def test_bad_config_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="grace_seconds"):
        PacingConfig(grace_seconds=-1)
    with pytest.raises(ValueError, match="max_rate"):
        AbandonRule(max_rate=1.5)


# ---- estimators --------------------------------------------------------------


def test_fixed_wrapup_predicts_the_exact_second() -> None:
    wrap = DurationModel(30.0, 0.0)
    m = wrap.conditional_cdf(np.array([10.0]), np.array([19.4, 20.0, 20.6]))
    assert m[0] == pytest.approx([0.0, 0.5, 1.0], abs=1e-9)


def test_duration_model_learns_away_from_its_prior() -> None:
    talk = DurationModel(100.0, 0.5, prior_weight=5.0)
    for _ in range(500):
        talk.observe(200.0)
    assert talk.mean() == pytest.approx(200.0, rel=0.02)
    with pytest.raises(ValueError, match="duration"):
        talk.observe(-1.0)


def test_answer_model_conditions_on_time_rung() -> None:
    m = AnswerModel(prior_weight=1e-6)
    for _ in range(100):
        m.observe(CallOutcome.LIVE, 10.0)
        m.observe(CallOutcome.NO_ANSWER, 30.0)
    assert m.live_rate() == pytest.approx(0.5, abs=1e-3)  # decay weighs the last a bit more
    fresh, late = m.live_by(np.array([0.0, 15.0]), np.array([20.0]))[:, 0]
    assert fresh == pytest.approx(0.5, abs=1e-3)  # half the calls answer at 10 s
    assert late == pytest.approx(0.0, abs=1e-6)  # still ringing at 15 s: a no-answer


# ---- abandon budget ----------------------------------------------------------


def test_day_budget_is_share_of_todays_live_answers() -> None:
    b = AbandonBudget(AbandonRule(0.03), {DAY - dt.timedelta(days=1): DayCount(1000, 0)})
    for i in range(100):
        b.record(DAY, abandoned=i < 2)
    assert b.remaining(DAY) == pytest.approx(0.03 * 100 - 2)
    assert b.rate(DAY) == pytest.approx(0.02)


def test_rolling_window_counts_the_last_thirty_days() -> None:
    rule = AbandonRule(0.03, RuleWindow.ROLLING_DAYS, 30)
    hist = {
        DAY - dt.timedelta(days=30): DayCount(5000, 0),  # just outside
        DAY - dt.timedelta(days=29): DayCount(1000, 10),
        DAY - dt.timedelta(days=1): DayCount(1000, 40),
    }
    b = AbandonBudget(rule, hist)
    assert b.window_counts(DAY) == DayCount(2000, 50)
    assert b.remaining(DAY) == pytest.approx(60 - 50)
    with pytest.raises(ValueError, match="abandoned"):
        DayCount(1, 2)


# ---- VICIdial baseline -------------------------------------------------------


def vici_snap(ready: int, talking: int, ringing: int = 0, now: float = 0.0, tod: float = 0.0):
    views = agents(ready=ready) + agents(n_talking=talking, talking=30.0)
    return PacingSnapshot(now=now, day=DAY, agents=views, ringing=[1.0] * ringing, time_of_day=tod)


def test_vicidial_level_rises_with_waiting_agents() -> None:
    # 10 ready of 10: differential 10 / 10 agents = +100 %, level 1.0 -> 2.0,
    # goal round(2.0 * 10) = 20 calls in progress.
    v = VicidialAdaptive()
    d = v.decide(vici_snap(ready=10, talking=0))
    assert v.level == pytest.approx(2.0)
    assert d.calls == 20


def test_vicidial_level_one_is_progressive() -> None:
    # goal = 1.0 * (ready + incall); existing = ringing + incall.
    v = VicidialAdaptive()
    v.level = 1.0
    v._last_level = 0.0  # no level update due at t=1
    d = v.decide(vici_snap(ready=4, talking=6, ringing=1, now=1.0))
    assert d.calls == 3


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (AdaptMethod.ADAPT_AVERAGE, 1.5),  # halved
        (AdaptMethod.ADAPT_HARD_LIMIT, 1.0),
        (
            AdaptMethod.ADAPT_TAPERED,
            3.0 * 0.5,
        ),  # at 16:00, 500 of the 1000 HHMM units to 21:00 left
    ],
)
def test_vicidial_drop_rule_over_limit(method: AdaptMethod, expected: float) -> None:
    v = VicidialAdaptive(VicidialConfig(method=method, auto_dial_level=3.0))
    for i in range(60):
        v.record_live_answer(DAY, abandoned=i < 6)  # 10 % of answers dropped
    v.decide(vici_snap(ready=0, talking=10, tod=16 * 3600.0))  # 16:00: 500 of 1000 left
    assert v.level == pytest.approx(expected)


def test_early_in_the_day_a_small_advance_lets_predictive_start() -> None:
    # No answers yet today. 10 agents, 8 h left: at half their capacity they
    # bring 0.5 * 10 * (8 h - 1 h) / 210 s = 600 answers, 3 % of which (18)
    # minus the 3-abandon cushion repays far more than the 2-abandon cap.
    cfg = PacingConfig(warmup_calls=0, warmup_handles=0)
    p = Pacer(cfg)
    ready = agents(ready=10)
    early = PacingSnapshot(now=0.0, day=DAY, agents=ready, window_seconds_left=8 * 3600.0)
    d = p.decide(early)
    assert d.mode is Mode.PREDICTIVE
    assert d.budget_left == pytest.approx(2.0)
    # 1.5 h left: 0.03 * 0.5 * 10 * 1800 / 210 = 1.3 answers' worth < the cushion.
    late = PacingSnapshot(now=0.0, day=DAY, agents=ready, window_seconds_left=1.5 * 3600.0)
    assert p.decide(late).reason.startswith("hard stop")
    # A rolling window never closes: no advance.
    assert p.decide(snap(ready)).reason.startswith("hard stop")


def test_learned_state_survives_a_json_round_trip() -> None:
    a = warm_pacer()
    for i in range(50):
        a.record_call_resolved(CallOutcome.LIVE if i % 3 else CallOutcome.BUSY, 7.0 + i % 5)
        a.record_talk(60.0 + i)
        a.record_wrap(12.0)
    a.decide(snap(agents(ready=3)))
    a.record_live_answer(DAY, abandoned=True)
    # The budget is not part of the state: the next session seeds it from the ledger.
    b = Pacer(a.config, AbandonBudget(a.config.rule, a.budget.day_counts()))
    b.restore_state(json.loads(json.dumps(a.export_state())))
    assert b.export_state() == a.export_state()
    s = snap([*agents(ready=12), AgentView(AgentState.WRAPUP, 5.0)], ringing=[2.0, 9.0])
    assert b.decide(s) == a.decide(s)
    with pytest.raises(ValueError, match="counts"):
        b.restore_state({**a.export_state(), "talk": {"counts": [1.0], "observed": 3}})
