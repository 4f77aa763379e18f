"""A worker process for the guard race test (module-level so 'spawn' can import it)."""

from __future__ import annotations

import datetime as dt
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from campaigns.ledger.guard import guard_and_reserve
from campaigns.storage.db import make_engine
from tests.support.requests import colombian_call


def contend(url: str, key: str, at: dt.datetime, barrier: Barrier, results: Queue) -> None:
    """Wait for every contender, then ask the guard to call customer C1 once."""
    engine = make_engine(url)
    request = colombian_call(key, at)
    barrier.wait(timeout=60)
    (result,) = guard_and_reserve(engine, [request], now=at)
    engine.dispose()
    results.put((key, result.allowed, [r.rule for r in result.decision.results if not r.ok]))
