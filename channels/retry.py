"""Back-off for transient provider errors (429, 5xx, connection failures).

Pure: ``backoff_delay`` computes, ``call_with_retry`` takes the sleep function.
A provider's ``Retry-After`` wins over our own schedule (it knows its load),
capped so a bogus header cannot park a worker for an hour.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from channels.errors import TransportError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` total tries; exponential delays from ``base_s`` capped at ``max_s``."""

    attempts: int = 3
    base_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.2
    # A read timeout means the provider may have accepted the message:
    # retrying it here could send twice, so by default the caller decides.
    retry_ambiguous: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")


def backoff_delay(
    policy: RetryPolicy, attempt: int, retry_after: float | None, rand: float
) -> float:
    """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1).

    ``rand`` in [0, 1) spreads workers apart so they do not retry in lockstep.
    """
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, policy.max_s)
    delay = min(policy.base_s * (2 ** (attempt - 1)), policy.max_s)
    return delay * (1 - policy.jitter + 2 * policy.jitter * rand)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (the delta-seconds form; an HTTP date is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until it succeeds, raises a permanent ``TransportError``, or
    the policy's attempts run out (the last error is raised)."""
    attempt = 1
    while True:
        try:
            return fn()
        except TransportError as exc:
            retryable = not exc.permanent and (policy.retry_ambiguous or not exc.ambiguous)
            if not retryable or attempt >= policy.attempts:
                raise
            sleep(backoff_delay(policy, attempt, exc.retry_after, rand()))
            attempt += 1
