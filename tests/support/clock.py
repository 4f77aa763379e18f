"""A clock a test moves by hand, for the apps that take a ``clock`` (the console, the portal)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class Clock:
    """A settable clock for an app: ``clock.now += timedelta(...)`` moves it."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now
