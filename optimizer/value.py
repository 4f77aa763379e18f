"""Value model: expected money from one attempt, learnt from the ledger's counts.

``v[i, c, t] = P(right-party contact | segment, channel, local hour)
             x P(payment | contact, segment, channel) x expected amount[i]``

Probabilities are beta-smoothed ratios of ledger counts toward the campaign's
priors: with ``k`` pseudo-observations and prior mean ``m``, the estimate is
``(successes + k*m) / (trials + k)`` (the posterior mean of a
Beta(k*m, k*(1-m)) prior). A cell with no history falls back to its prior; a
cell with thousands of attempts follows its data, so tomorrow's plan learns
from today's outcomes without over-reacting to ten calls.

Pure: the caller fills the count arrays (e.g. from SQL over the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optimizer.problem import F32, F64

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class History:
    """Ledger counts per segment S, channel C and local hour of day (24).

    Attributes:
        attempts: ``[S, C, 24]`` attempts made.
        rpc: ``[S, C, 24]`` right-party contacts among them.
        promises: ``[S, C]`` promises to pay obtained in those contacts.
        payments: ``[S, C]`` promises that were paid (a partly kept one counts
            the share paid).
        settled: ``[S, C]`` promises whose fate is known (kept, partly kept or
            broken); the kept rate is ``payments / settled``, so promises still
            pending count neither way. None: every promise is settled.
        paid_contacts: ``[S, C]`` right-party contacts the debtor paid after
            (within the attribution window), promise or not. When given, the pay
            rate per contact is learned from it directly; otherwise it is the
            promise rate times the kept rate.
    """

    attempts: npt.NDArray[np.floating] | npt.NDArray[np.integer]
    rpc: npt.NDArray[np.floating] | npt.NDArray[np.integer]
    promises: npt.NDArray[np.floating] | npt.NDArray[np.integer]
    payments: npt.NDArray[np.floating] | npt.NDArray[np.integer]
    settled: npt.NDArray[np.floating] | npt.NDArray[np.integer] | None = None
    paid_contacts: npt.NDArray[np.floating] | npt.NDArray[np.integer] | None = None

    def __post_init__(self) -> None:
        a = np.asarray(self.attempts)
        if a.ndim != 3 or a.shape[2] != HOURS_PER_DAY:
            raise ValueError(f"History.attempts: shape must be [S, C, 24], got {a.shape}")
        s, c, _ = a.shape
        for name, shape in (("rpc", (s, c, 24)), ("promises", (s, c)), ("payments", (s, c))):
            arr = np.asarray(getattr(self, name))
            if arr.shape != shape:
                raise ValueError(f"History.{name}: shape must be {shape}, got {arr.shape}")
            if (arr < 0).any():
                raise ValueError(f"History.{name}: counts must be >= 0")
        if (a < 0).any():
            raise ValueError("History.attempts: counts must be >= 0")
        if (np.asarray(self.rpc) > a).any():
            raise ValueError("History.rpc: more contacts than attempts in some cell")
        decided = np.asarray(self.promises if self.settled is None else self.settled)
        if decided.shape != (s, c) or (decided > np.asarray(self.promises)).any():
            raise ValueError("History.settled: shape [S, C], at most the promises per cell")
        if (np.asarray(self.payments) > decided).any():
            raise ValueError("History.payments: more payments than settled promises in some cell")
        if self.paid_contacts is not None:
            paid = np.asarray(self.paid_contacts)
            if paid.shape != (s, c) or (paid > np.asarray(self.rpc).sum(axis=2)).any():
                raise ValueError("History.paid_contacts: shape [S, C], at most the contacts")


@dataclass(frozen=True)
class Priors:
    """Campaign-file priors used where the ledger is thin.

    Attributes:
        rpc: ``[C, 24]`` prior P(right-party contact | channel, local hour).
        promise: ``[C]`` prior P(promise | contact, channel).
        keep: ``[C]`` prior P(payment | promise, channel).
        strength: pseudo-observations the priors are worth.
    """

    rpc: F64
    promise: F64
    keep: F64
    strength: float = 50.0

    def __post_init__(self) -> None:
        for name in ("rpc", "promise", "keep"):
            arr = np.asarray(getattr(self, name))
            if ((arr < 0) | (arr > 1)).any():
                raise ValueError(f"Priors.{name}: probabilities must be in [0, 1]")
        if np.asarray(self.rpc).ndim != 2 or np.asarray(self.rpc).shape[1] != HOURS_PER_DAY:
            raise ValueError("Priors.rpc: shape must be [C, 24]")
        if self.strength <= 0:
            raise ValueError(f"Priors.strength: must be > 0, got {self.strength}")


@dataclass(frozen=True)
class Rates:
    """Smoothed probabilities: ``rpc [S, C, 24]`` and ``pay [S, C]`` (per contact)."""

    rpc: F64
    pay: F64


def _smooth(successes: F64, trials: F64, prior: F64, k: float) -> F64:
    return np.asarray((successes + k * prior) / (trials + k), dtype=np.float64)


def estimate_rates(history: History, priors: Priors) -> Rates:
    """Beta-smoothed contact and payment rates per segment x channel (x hour)."""
    att = np.asarray(history.attempts, np.float64)
    rpc = np.asarray(history.rpc, np.float64)
    prom = np.asarray(history.promises, np.float64)
    paid = np.asarray(history.payments, np.float64)
    settled = prom if history.settled is None else np.asarray(history.settled, np.float64)
    if np.asarray(priors.rpc).shape[0] != att.shape[1]:
        raise ValueError(
            f"Priors.rpc: {np.asarray(priors.rpc).shape[0]} channels, history has {att.shape[1]}"
        )
    k = priors.strength
    p_rpc = _smooth(rpc, att, np.asarray(priors.rpc)[None], k)
    contacts = rpc.sum(axis=2)
    p_promise = _smooth(prom, contacts, np.asarray(priors.promise)[None], k)
    p_keep = _smooth(paid, settled, np.asarray(priors.keep)[None], k)
    if history.paid_contacts is None:
        return Rates(rpc=p_rpc, pay=p_promise * p_keep)
    # Money after a contact, with or without a promise: the quantity the value
    # needs, learned directly toward the same prior (promise times keep).
    prior_pay = np.asarray(priors.promise) * np.asarray(priors.keep)
    paid_after = np.asarray(history.paid_contacts, np.float64)
    return Rates(rpc=p_rpc, pay=_smooth(paid_after, contacts, prior_pay[None], k))


@dataclass(frozen=True)
class AmountModel:
    """Expected amount collected from a paying customer.

    ``minimum_due + cure_share * exp(-days_past_due / decay_days) * (balance - minimum_due)``:
    a payer pays at least the minimum due, and early-stage debtors more often
    cure the whole arrear than those a few months late.
    """

    cure_share: float = 0.35
    decay_days: float = 90.0


def expected_amount(
    balance: F64, minimum_due: F64, days_past_due: npt.NDArray[np.integer], model: AmountModel
) -> F64:
    """Expected payment per customer (currency), from the customer's debts summed."""
    bal = np.asarray(balance, np.float64)
    due = np.minimum(np.asarray(minimum_due, np.float64), bal)
    if (bal < 0).any() or (due < 0).any():
        raise ValueError("expected_amount: balance and minimum_due must be >= 0")
    share = model.cure_share * np.exp(-np.asarray(days_past_due, np.float64) / model.decay_days)
    return np.asarray(due + share * (bal - due), dtype=np.float64)


def value_array(
    rates: Rates,
    segment: npt.NDArray[np.integer],
    amount: F64,
    slot_hour: npt.NDArray[np.integer],
    hour_offset: npt.NDArray[np.integer] | None = None,
    chunk: int = 1 << 18,
) -> F32:
    """``value [N, C, T]`` float32 for ``Problem.value``.

    ``slot_hour[t]`` is the campaign hour of slot t; ``hour_offset[i]`` the
    customer's local-time offset from it in hours (time zones), so the rate
    used is the one of the customer's local hour.
    """
    seg = np.asarray(segment)
    n = seg.size
    n_seg, n_ch, _ = rates.rpc.shape
    if seg.size and (seg.min() < 0 or seg.max() >= n_seg):
        raise ValueError(f"value_array: segment indices must be in [0, {n_seg})")
    if np.asarray(amount).shape != (n,):
        raise ValueError(f"value_array: amount must have shape ({n},)")
    hours = np.asarray(slot_hour, np.int64)
    offset = np.zeros(n, np.int64) if hour_offset is None else np.asarray(hour_offset, np.int64)
    out = np.empty((n, n_ch, hours.size), np.float32)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        local = (hours[None, :] + offset[s:e, None]) % HOURS_PER_DAY  # [n, T]
        sg = seg[s:e]
        p_rpc = rates.rpc[sg[:, None, None], np.arange(n_ch)[None, :, None], local[:, None, :]]
        out[s:e] = p_rpc * rates.pay[sg][:, :, None] * np.asarray(amount)[s:e, None, None]
    return out
