"""Online estimates the pacer needs: call-progress outcomes and handle times.

Pure: observations come in, arrays of probabilities come out; no clock, no I/O.
Every estimate starts from a prior (expressed as pseudo-observations) so that
the first minutes of a session are paced sensibly, and forgets old data
geometrically so that a drifting list (the answer rate of the morning is not
the answer rate of the evening) is followed.

Durations are binned at one second: the pacing decision itself is taken about
once a second, so finer bins would only add noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class CallOutcome(StrEnum):
    """How the call-progress phase of an outbound call ended."""

    LIVE = "live"  # a person answered: the call goes to the agents' queue
    MACHINE = "machine"  # AMD decided "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, not in service, trunk error


def _lognormal_cdf(x: FloatArray, mean: float, cv: float) -> FloatArray:
    sigma2 = math.log1p(cv * cv)
    mu = math.log(mean) - sigma2 / 2.0
    sigma = math.sqrt(sigma2)
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(x, 1e-12)) - mu) / (sigma * math.sqrt(2.0))
    erf = np.vectorize(math.erf, otypes=[np.float64])
    out: FloatArray = 0.5 * (1.0 + erf(z))
    out[x <= 0] = 0.0
    return out


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _load_array(state: Mapping[str, object], key: str, size: int, owner: str) -> FloatArray:
    raw = state.get(key)
    if not isinstance(raw, list | tuple) or len(raw) != size:
        raise ValueError(f"{owner} state: '{key}' must be a list of {size} numbers")
    arr = np.asarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
        raise ValueError(f"{owner} state: '{key}' must hold finite counts >= 0, not all zero")
    return arr


def _load_count(state: Mapping[str, object], owner: str) -> int:
    raw = state.get("observed")
    if not isinstance(raw, int) or raw < 0:
        raise ValueError(f"{owner} state: 'observed' must be an integer >= 0")
    return raw


class DurationModel:
    """Empirical distribution of a duration (talk time, wrap-up) learned online.

    Starts as a log-normal prior (``prior_mean`` seconds, coefficient of
    variation ``prior_cv``; 0 means a fixed duration) worth ``prior_weight``
    observations; every observation then counts 1 and older ones decay by
    ``1 - 1/memory``. Once data arrives the distribution is non-parametric: the
    pacer does not assume talk times stay log-normal. Bin ``i`` holds durations
    that round to ``i`` seconds; the CDF is interpolated linearly between bin
    edges, so a fixed 30 s wrap-up is predicted at 30 s, not a second late.
    """

    def __init__(
        self,
        prior_mean: float,
        prior_cv: float,
        *,
        prior_weight: float = 30.0,
        max_seconds: int = 3600,
        memory: float = 2000.0,
    ) -> None:
        _check_positive("prior_mean", prior_mean)
        _check_positive("prior_weight", prior_weight)
        _check_positive("memory", memory)
        if prior_cv < 0 or not math.isfinite(prior_cv):
            raise ValueError(f"prior_cv must be >= 0, got {prior_cv!r}")
        if max_seconds < 2 * prior_mean:
            raise ValueError(f"max_seconds={max_seconds} is too short for mean {prior_mean}")
        self._n = max_seconds + 1
        if prior_cv == 0:
            counts = np.zeros(self._n)
            counts[min(round(prior_mean), self._n - 1)] = prior_weight
        else:
            edges = np.arange(self._n + 1, dtype=np.float64) - 0.5
            cdf = _lognormal_cdf(edges, prior_mean, prior_cv)
            cdf[-1] = 1.0  # the last bin holds the whole tail
            counts = np.diff(cdf) * prior_weight
        self._counts: FloatArray = counts
        self._edges: FloatArray = np.arange(self._n + 1, dtype=np.float64) - 0.5
        self._decay = 1.0 - 1.0 / memory
        self._cdf: FloatArray | None = None
        self.version = 0  # bumped on every observation, for callers that cache derived arrays
        self.observed = 0  # real observations so far (the prior not included)

    def observe(self, seconds: float) -> None:
        """Add one observed duration (seconds, >= 0)."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"duration must be >= 0 seconds, got {seconds!r}")
        self._counts *= self._decay
        self._counts[min(round(seconds), self._n - 1)] += 1.0
        self._cdf = None
        self.version += 1
        self.observed += 1

    def state(self) -> dict[str, object]:
        """What was learned, as JSON-able data (to carry it from one dial session to the next)."""
        return {"counts": self._counts.tolist(), "observed": self.observed}

    def load_state(self, state: Mapping[str, object]) -> None:
        """Restore what ``state()`` returned (same ``max_seconds``)."""
        counts = _load_array(state, "counts", self._n, "DurationModel")
        self.observed = _load_count(state, "DurationModel")
        self._counts = counts
        self._cdf = None
        self.version += 1

    def _cdf_points(self) -> FloatArray:
        if self._cdf is None:
            c = np.concatenate(([0.0], np.cumsum(self._counts)))
            self._cdf = c / c[-1]
        return self._cdf

    def cdf(self, x: FloatArray) -> FloatArray:
        """``P(duration <= x)`` for each element of ``x`` (seconds)."""
        out = np.interp(x.ravel(), self._edges, self._cdf_points()).reshape(x.shape)
        return np.asarray(out, dtype=np.float64)

    def mean(self) -> float:
        """Mean duration in seconds."""
        mids = np.arange(self._n, dtype=np.float64)
        return float((self._counts * mids).sum() / self._counts.sum())

    def conditional_cdf(self, elapsed: FloatArray, offsets: FloatArray) -> FloatArray:
        """``M[j, k] = P(ends within offsets[k] more seconds | lasted elapsed[j])``."""
        base = self.cdf(elapsed)
        later = self.cdf(elapsed[:, None] + offsets[None, :])
        surv = np.maximum(1.0 - base, 1e-12)
        out = (later - base[:, None]) / surv[:, None]
        return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)


class AnswerModel:
    """When and how outbound calls resolve: the live-answer rate and ring times.

    Keeps decayed counts of resolutions per one-second bin of time since the
    originate, split into live answers and everything else (busy, machine after
    AMD, no answer at the timeout, failures). From them it gives, for a new call
    or for a call that has already rung ``e`` seconds without resolving, the
    probability of a live answer within each of the next seconds. Conditioning
    on ``e`` matters: a call still ringing after 20 s is much less likely to be
    answered than a fresh one, because no-answers ring to the timeout.
    """

    def __init__(
        self,
        *,
        prior_live_rate: float = 0.25,
        prior_ring_seconds: tuple[float, float] = (4.0, 25.0),
        prior_timeout_seconds: float = 30.0,
        prior_weight: float = 200.0,
        max_seconds: int = 120,
        memory: float = 3000.0,
    ) -> None:
        if not 0 < prior_live_rate < 1:
            raise ValueError(f"prior_live_rate must be in (0, 1), got {prior_live_rate!r}")
        lo, hi = prior_ring_seconds
        if not 0 <= lo < hi <= max_seconds:
            raise ValueError(f"prior_ring_seconds must satisfy 0 <= lo < hi, got {lo}, {hi}")
        if not 0 < prior_timeout_seconds < max_seconds:
            raise ValueError(f"prior_timeout_seconds out of range: {prior_timeout_seconds!r}")
        _check_positive("prior_weight", prior_weight)
        _check_positive("memory", memory)
        self._n = max_seconds + 1
        bins = np.arange(self._n, dtype=np.float64)
        ring = ((bins >= round(lo)) & (bins <= round(hi))).astype(np.float64)
        ring /= ring.sum()
        # Prior for the rest: half resolves during the ring window (busy,
        # machines), half at the timeout (no answer).
        other = 0.5 * ring.copy()
        other[min(round(prior_timeout_seconds), self._n - 1)] += 0.5
        self._live: FloatArray = ring * prior_weight * prior_live_rate
        self._other: FloatArray = other * prior_weight * (1.0 - prior_live_rate)
        self._edges: FloatArray = np.arange(self._n + 1, dtype=np.float64) - 0.5
        self._decay = 1.0 - 1.0 / memory
        self._cache: tuple[FloatArray, FloatArray] | None = None
        self.observed = 0  # real observations so far (the prior not included)

    def observe(self, outcome: CallOutcome, seconds: float) -> None:
        """Record one resolved call: its outcome and seconds from originate to resolution."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"resolution time must be >= 0 seconds, got {seconds!r}")
        i = min(round(seconds), self._n - 1)
        self._live *= self._decay
        self._other *= self._decay
        if outcome is CallOutcome.LIVE:
            self._live[i] += 1.0
        else:
            self._other[i] += 1.0
        self._cache = None
        self.observed += 1

    def state(self) -> dict[str, object]:
        """What was learned, as JSON-able data (to carry it from one dial session to the next)."""
        return {
            "live": self._live.tolist(),
            "other": self._other.tolist(),
            "observed": self.observed,
        }

    def load_state(self, state: Mapping[str, object]) -> None:
        """Restore what ``state()`` returned (same ``max_seconds``)."""
        live = _load_array(state, "live", self._n, "AnswerModel")
        other = _load_array(state, "other", self._n, "AnswerModel")
        self.observed = _load_count(state, "AnswerModel")
        self._live, self._other = live, other
        self._cache = None

    def _points(self) -> tuple[FloatArray, FloatArray]:
        # At bin edges: cumulative live mass, and cumulative mass of everything.
        if self._cache is None:
            total = self._live.sum() + self._other.sum()
            cl = np.concatenate(([0.0], np.cumsum(self._live))) / total
            ca = np.concatenate(([0.0], np.cumsum(self._live + self._other))) / total
            self._cache = (cl, ca)
        return self._cache

    def live_rate(self) -> float:
        """Estimated probability that a dialed call is answered by a person."""
        return float(self._live.sum() / (self._live.sum() + self._other.sum()))

    def live_by(self, elapsed: FloatArray, offsets: FloatArray) -> FloatArray:
        """``M[j, k]`` = P(call j is answered live within ``offsets[k]`` more seconds).

        ``elapsed[j]`` is how long call j has been out without resolving (0 for
        a call not yet placed).
        """
        cl, ca = self._points()
        x = elapsed[:, None] + offsets[None, :]
        live_then = np.interp(x.ravel(), self._edges, cl).reshape(x.shape)
        live_now = np.interp(elapsed, self._edges, cl)
        surv = np.maximum(1.0 - np.interp(elapsed, self._edges, ca), 1e-12)
        out = (live_then - live_now[:, None]) / surv[:, None]
        return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)
