"""Token buckets per provider account and sender.

Providers throttle per account and per sender (a Twilio long code sends about
one SMS per second in the US; a SendGrid account has a request rate), and a
429 costs a round trip plus a back-off. We pace ourselves below the limit.

``TokenBucket`` is pure (time is passed in). ``RateLimiter`` holds one bucket
per key behind a lock; ``acquire_blocking`` is the only place that reads a
clock and sleeps, and both are injectable. Buckets are per process: two worker
processes sharing one sender must each get half the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        """A bucket that starts with ``burst`` tokens at time ``now``."""
        if rate <= 0 or burst <= 0:
            raise ValueError(f"token bucket needs rate > 0 and burst > 0, got {rate}, {burst}")
        return cls(rate=rate, burst=burst, tokens=burst, updated_at=now)

    def _refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate)
            self.updated_at = now

    def take(self, now: float, n: float = 1.0) -> float:
        """Take ``n`` tokens if available and return 0.0; else take nothing and
        return the seconds to wait until they will be."""
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens from a bucket of burst {self.burst}")
        self._refill(now)
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


@dataclass(frozen=True)
class RateKey:
    """Who is being throttled: a provider account and one of its senders."""

    provider: str
    account: str
    sender: str


class RateLimiter:
    """Buckets by ``RateKey``, all with the same rate and burst unless overridden."""

    def __init__(
        self,
        rate: float,
        burst: float,
        overrides: dict[RateKey, tuple[float, float]] | None = None,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate limiter needs rate > 0 and burst > 0, got {rate}, {burst}")
        self._rate, self._burst = rate, burst
        self._overrides = dict(overrides or {})
        self._buckets: dict[RateKey, TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, key: RateKey, now: float, n: float = 1.0) -> float:
        """Like ``TokenBucket.take`` for the bucket of ``key`` (created full)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                rate, burst = self._overrides.get(key, (self._rate, self._burst))
                bucket = self._buckets[key] = TokenBucket.full(rate, burst, now)
            return bucket.take(now, n)


def acquire_blocking(
    limiter: RateLimiter,
    key: RateKey,
    n: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait until ``n`` tokens are taken for ``key``; return the seconds waited."""
    waited = 0.0
    while True:
        wait = limiter.take(key, clock(), n)
        if wait <= 0:
            return waited
        sleep(wait)
        waited += wait
