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
    assert clock.real_seconds(3600) == 60


def test_wall_clock_when_unset_and_clear_errors() -> None:
    wall = Clock.from_env({})
    assert abs((wall.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    assert wall.to_real(START) == START
    with pytest.raises(ClockError, match="CADENCIA_SIM_CLOCK='noon'"):
        Clock.from_env({"CADENCIA_SIM_CLOCK": "noon"})
    with pytest.raises(ClockError, match="factor > 0"):
        Clock.from_env({"CADENCIA_SIM_CLOCK": "2026-11-24T13:00:00+00:00,0,0"})
