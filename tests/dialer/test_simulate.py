"""Simulator invariants, with the real pacing code driving it.

These are correctness properties (every call ends once, no agent takes two
calls, abandons only when no agent was free in time, the rule's share holds),
never timings.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import pytest

from dialer.abandon_budget import AbandonRule
from dialer.pacing import Mode, Pacer, PacingConfig
from dialer.simulate import Final, Scenario, agents_for_plan, simulate
from dialer.vicidial import VicidialAdaptive

SMALL = Scenario(agents=12, hours=1.0)


def predictive(max_rate: float = 0.03) -> Pacer:
    return Pacer(PacingConfig(rule=AbandonRule(max_rate=max_rate), warmup_calls=100))


@pytest.fixture(scope="module")
def traced_runs() -> dict[str, object]:
    return {
        "predictive": simulate(SMALL, predictive(), seed=3, trace=True),
        "progressive": simulate(
            SMALL, Pacer(PacingConfig(mode=Mode.PROGRESSIVE)), seed=3, trace=True
        ),
        "vicidial": simulate(SMALL, VicidialAdaptive(), seed=3, trace=True),
    }


@pytest.mark.parametrize("mode", ["predictive", "progressive", "vicidial"])
def test_every_dialed_call_ends_in_exactly_one_outcome(traced_runs, mode: str) -> None:
    day = traced_runs[mode].days[0]
    assert day.dials > 0
    assert sum(day.outcomes.values()) == day.dials
    assert day.outcomes[Final.CONNECTED] + day.outcomes[Final.ABANDONED] == day.live
    assert day.outcomes[Final.ABANDONED] == day.abandoned
    connected_calls = [c.call for c in day.conversations]
    assert len(connected_calls) == len(set(connected_calls)) == day.outcomes[Final.CONNECTED]


@pytest.mark.parametrize("mode", ["predictive", "progressive", "vicidial"])
def test_no_agent_ever_talks_to_two_calls(traced_runs, mode: str) -> None:
    by_agent = defaultdict(list)
    for c in traced_runs[mode].days[0].conversations:
        by_agent[c.agent].append(c)
    assert by_agent
    for convs in by_agent.values():
        convs.sort(key=lambda c: c.start)
        for a, b in itertools.pairwise(convs):
            # the next call starts only after this one and its wrap-up
            assert b.start >= a.end + SMALL.wrap_seconds - 1e-9


@pytest.mark.parametrize("mode", ["predictive", "progressive", "vicidial"])
def test_abandon_only_when_no_agent_free_within_grace(traced_runs, mode: str) -> None:
    day = traced_runs[mode].days[0]
    assert day.abandons_with_free_agent == 0
    for c in day.conversations:
        assert 0 <= c.start - c.answered <= SMALL.grace_seconds + 1e-9


def test_progressive_never_abandons(traced_runs) -> None:
    day = traced_runs["progressive"].days[0]
    assert day.live > 0 and day.abandoned == 0


def test_predictive_beats_progressive_and_keeps_the_rule(traced_runs) -> None:
    pred, prog = traced_runs["predictive"].days[0], traced_runs["progressive"].days[0]
    assert pred.talk_minutes_per_agent_hour > prog.talk_minutes_per_agent_hour
    assert pred.abandon_rate <= 0.03


@pytest.mark.parametrize("max_rate", [0.01, 0.03])
def test_short_day_stays_within_the_abandon_target(max_rate: float) -> None:
    sc = Scenario(agents=25, hours=1.5)
    res = simulate(sc, predictive(max_rate), days=2, seed=11)
    for day in res.days:
        assert day.live > 300
        assert day.abandon_rate <= max_rate


def test_same_seed_same_day() -> None:
    a = simulate(SMALL, predictive(), seed=5).days[0]
    b = simulate(SMALL, predictive(), seed=5).days[0]
    assert (a.dials, a.live, a.abandoned, a.talk_seconds) == (
        b.dials,
        b.live,
        b.abandoned,
        b.talk_seconds,
    )


def test_agents_for_plan_is_the_smallest_team_that_suffices() -> None:
    sc = Scenario(agents=1, hours=0.5)

    def progressive() -> Pacer:
        return Pacer(PacingConfig(mode=Mode.PROGRESSIVE))

    got = agents_for_plan(sc, 60, progressive, seed=2)
    assert got.connects >= 60
    fewer = simulate(dataclasses.replace(sc, agents=got.agents - 1), progressive(), seed=2)
    assert fewer.days[0].outcomes[Final.CONNECTED] < 60
    with pytest.raises(ValueError, match="fewer than"):
        agents_for_plan(sc, 10_000, progressive, seed=2, max_agents=4)


def test_bad_scenario_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="rates"):
        Scenario(live_rate=0.6, machine_rate=0.3, busy_rate=0.2)
    with pytest.raises(ValueError, match="ring_seconds"):
        Scenario(ring_seconds=(5.0, 40.0))
