"""Token bucket (pure, time passed in) and back-off arithmetic."""

from __future__ import annotations

import pytest

from channels.errors import TransportError
from channels.ratelimit import RateKey, RateLimiter, TokenBucket, acquire_blocking
from channels.retry import RetryPolicy, backoff_delay, call_with_retry, parse_retry_after


def test_bucket_allows_a_burst_then_paces() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=3.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) == pytest.approx(0.5)


def test_bucket_never_holds_more_than_burst() -> None:
    bucket = TokenBucket.full(rate=10.0, burst=2.0, now=0.0)
    bucket.take(0.0, 2)
    assert bucket.take(1000.0, 2) == 0.0
    assert bucket.take(1000.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="burst"):
        bucket.take(1000.0, 3)


def test_each_account_and_sender_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=1.0)
    a = RateKey("twilio", "AC1", "+15550001")
    b = RateKey("twilio", "AC1", "+15550002")
    assert limiter.take(a, 0.0) == 0.0
    assert limiter.take(a, 0.0) == pytest.approx(1.0)
    assert limiter.take(b, 0.0) == 0.0


def test_overrides_set_a_sender_specific_rate() -> None:
    fast = RateKey("twilio", "AC1", "short-code")
    limiter = RateLimiter(rate=1.0, burst=1.0, overrides={fast: (100.0, 100.0)})
    assert all(limiter.take(fast, 0.0) == 0.0 for _ in range(100))


def test_acquire_blocking_sleeps_exactly_what_the_bucket_asks() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(rate=4.0, burst=1.0)
    key = RateKey("sendgrid", "acct", "from@example.com")
    waited = [acquire_blocking(limiter, key, clock=lambda: clock[0], sleep=sleep) for _ in range(3)]
    assert waited == [0.0, pytest.approx(0.25), pytest.approx(0.25)]
    assert clock[0] == pytest.approx(0.5)


def test_backoff_honours_retry_after_and_caps_it() -> None:
    policy = RetryPolicy(attempts=4, base_s=1.0, max_s=10.0, jitter=0.0)
    assert backoff_delay(policy, 1, None, 0.5) == 1.0
    assert backoff_delay(policy, 3, None, 0.5) == 4.0
    assert backoff_delay(policy, 1, 7.0, 0.5) == 7.0
    assert backoff_delay(policy, 1, 3600.0, 0.5) == 10.0
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_call_with_retry_stops_on_permanent_and_on_ambiguous() -> None:
    calls: list[int] = []

    def permanent() -> str:
        calls.append(1)
        raise TransportError("bad number", provider="twilio", permanent=True)

    with pytest.raises(TransportError):
        call_with_retry(permanent, RetryPolicy(attempts=5), sleep=lambda s: None)
    assert len(calls) == 1

    def ambiguous() -> str:
        calls.append(2)
        raise TransportError("timeout", provider="twilio", permanent=False, ambiguous=True)

    with pytest.raises(TransportError):
        call_with_retry(ambiguous, RetryPolicy(attempts=5), sleep=lambda s: None)
    assert calls.count(2) == 1
    with pytest.raises(TransportError):
        call_with_retry(
            ambiguous, RetryPolicy(attempts=3, retry_ambiguous=True), sleep=lambda s: None
        )
    assert calls.count(2) == 4
