"""The pacer's arithmetic: the chance that a new call finds no agent free.

Pure numpy. For each second ``k`` of the horizon the pacer has, per busy agent,
the probability that the agent is free by then (``supply[i, k]``), and per call
in flight the probability that it has been answered live by then
(``demand[j, k]``). The number of agents free minus live answers ahead,

    X_k = free_now - waiting + Σ_i Bern(supply[i, k]) - Σ_j Bern(demand[j, k]),

decides whether one more answer finds an agent. Two ways to get its law: the
exact Poisson-binomial convolution (small teams, where a normal curve is a
poor fit to a handful of Bernoulli terms) and a normal approximation with the
exact mean and variance (large teams, where it is accurate and the
convolution would be slow).
"""

from __future__ import annotations

import math

import numpy as np

from dialer.estimators import FloatArray


def normal_cdf(x: FloatArray) -> FloatArray:
    """Standard normal CDF, vectorised (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erfc = poly * np.exp(-z * z)
    out: FloatArray = np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)
    return out


def _suffix_max(short: FloatArray) -> FloatArray:
    # A call answering in second k also takes an agent that a call answering
    # later was counting on: it costs an abandon if supply falls short at k or
    # at any later second.
    out: FloatArray = np.maximum.accumulate(short[:, ::-1], axis=1)[:, ::-1]
    return out


def risks_normal(
    margin: FloatArray, var: FloatArray, q_cum: FloatArray, q: FloatArray, size: int
) -> FloatArray:
    """Abandon risk (given a live answer) of new calls 1..size, normal approximation.

    ``margin``/``var``: mean and variance of ``X_k``; ``q_cum[k]`` the chance a
    new call is answered live by second k, ``q`` its per-second increments.
    """
    m = np.arange(size, dtype=np.float64)[:, None]  # new calls ahead of this one
    mu = margin[None, :] - m * q_cum[None, :]
    sd = np.sqrt(var[None, :] + m * q_cum * (1.0 - q_cum) + 0.25)
    short = _suffix_max(normal_cdf((0.5 - mu) / sd))
    out: FloatArray = (short * q[None, :]).sum(axis=1) / max(float(q.sum()), 1e-12)
    return out


def risks_exact(
    base: int,
    supply: FloatArray,
    demand: FloatArray,
    q_cum: FloatArray,
    q: FloatArray,
    size: int,
) -> FloatArray:
    """Abandon risk (given a live answer) of new calls 1..size, exact convolution.

    ``base`` = agents free now minus live answers waiting; ``supply`` (agents x
    seconds) and ``demand`` (calls x seconds) as in the module docstring.
    """
    h = q.size
    # -Bern(d) = Bern(1 - d) - 1: one Poisson-binomial S_k, X_k = base - n_d + S_k.
    items = np.concatenate((supply, 1.0 - demand), axis=0)
    n = items.shape[0]
    pmf = np.zeros((h, n + 1))
    pmf[:, 0] = 1.0
    for row in items:
        nxt = pmf * (1.0 - row)[:, None]
        nxt[:, 1:] += pmf[:, :-1] * row[:, None]
        pmf = nxt
    cdf_s = np.cumsum(pmf, axis=1)
    # G[k, b] = P(X_k <= b): with b new answers ahead, this call is short.
    idx = np.arange(size) - (base - demand.shape[0])
    g = np.where(idx < 0, 0.0, 1.0)[None, :] * np.ones((h, 1))
    inside = (idx >= 0) & (idx <= n)
    g[:, inside] = cdf_s[:, idx[inside]]
    # ahead[k, b] = P(b of the m-1 earlier new calls answered live by k), built up in m.
    ahead = np.zeros((h, size))
    ahead[:, 0] = 1.0
    short = np.empty((size, h))
    for m in range(size):
        short[m] = (ahead * g).sum(axis=1)
        nxt = ahead * (1.0 - q_cum)[:, None]
        nxt[:, 1:] += ahead[:, :-1] * q_cum[:, None]
        ahead = nxt
    short = _suffix_max(short)
    out: FloatArray = (short * q[None, :]).sum(axis=1) / max(float(q.sum()), 1e-12)
    return out


def expected_shortfall(margin: FloatArray, var: FloatArray) -> float:
    """Expected abandons among calls already out: ``max_k E[(ahead - free)^+]``.

    With lost (abandoned) calls, abandons by time k are the running maximum of
    the shortfall; the maximum of the expectations is a lower bound that is
    tight when the shortfall peaks once, the usual shape.
    """
    x = -margin
    sd = np.sqrt(var + 0.25)
    z = x / sd
    pos = x * normal_cdf(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return float(pos.max())
