"""The compressed clock: simulated time runs factor times faster, schedulers get real time."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from campaigns.clock import Clock, ClockError

START = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)


def test_compressed_clock_round_trips_through_the_environment() -> None:
    clock = Clock(START, real_start=time.time() - 10, factor=60)
    assert clock.now() - START >= dt.timedelta(minutes=10)
    again = Clock.from_env({"CADENCIA_SIM_CLOCK": clock.to_env()})
    assert again == clock
    in_an_hour = START + dt.timedelta(hours=1)
    assert clock.to_real(in_an_hour).timestamp() == pytest.approx(clock.real_start + 60)
    assert clock.real_seconds_until(in_an_hour) == pytest.approx(50, abs=1)
    assert clock.factor_at(in_an_hour) == 60


def test_wall_clock_when_unset_and_clear_errors() -> None:
    wall = Clock.from_env({})
    assert abs((wall.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    assert wall.to_real(START) == START
    with pytest.raises(ClockError, match="CADENCIA_SIM_CLOCK='noon'"):
        Clock.from_env({"CADENCIA_SIM_CLOCK": "noon"})
    with pytest.raises(ClockError, match="factor > 0"):
        Clock.from_env({"CADENCIA_SIM_CLOCK": "2026-11-24T13:00:00+00:00,0,0"})


def test_a_day_that_changes_pace_is_continuous_and_inverts() -> None:
    # 1 h at 60x (60 real s), then 2 h at 10x (720 real s), then 360x.
    real_start = time.time() - 100  # now: 40 s into the 10x stretch
    busy, quiet = START + dt.timedelta(hours=1), START + dt.timedelta(hours=3)
    clock = Clock(START, real_start, 60, ((busy, 10), (quiet, 360)))
    assert clock.to_real(busy).timestamp() == pytest.approx(real_start + 60)
    assert clock.to_real(quiet).timestamp() == pytest.approx(real_start + 60 + 720)
    later = quiet + dt.timedelta(hours=1)
    assert clock.to_real(later).timestamp() == pytest.approx(real_start + 780 + 10)
    elapsed = (clock.now() - busy).total_seconds()
    assert 400 - 1 <= elapsed <= 400 + 10  # 40 real s at 10x
    assert [clock.factor_at(i) for i in (START, busy, quiet, later)] == [60, 10, 360, 360]
    assert clock.real_seconds_until(START) == 0
    again = Clock.from_env({"CADENCIA_SIM_CLOCK": clock.to_env()})
    assert again == clock


def test_clock_changes_must_move_forward() -> None:
    with pytest.raises(ClockError, match="increasing instants"):
        Clock(START, 0, 60, ((START, 10),))
    value = f"{START.isoformat()},0,60;{(START + dt.timedelta(hours=2)).isoformat()},10;" + (
        f"{(START + dt.timedelta(hours=1)).isoformat()},20"
    )
    with pytest.raises(ClockError, match=r"CADENCIA_SIM_CLOCK=.*increasing instants"):
        Clock.from_env({"CADENCIA_SIM_CLOCK": value})
    with pytest.raises(ClockError, match=r"CADENCIA_SIM_CLOCK=.*expected"):
        Clock.from_env({"CADENCIA_SIM_CLOCK": f"{START.isoformat()},0,60;noon"})
