"""Baselines to compare the optimiser against, under the same hard constraints.

* ``rule_baseline``: the segment decision tree collection vendors use: rank
  customers by balance, the top tier gets a call at the usual hour, the middle
  an SMS, the rest an email; one attempt each, falling back to the next
  channel or the next slot when one is not allowed or is full.
* ``greedy_baseline``: all attempts sorted by net value per unit of scarce
  capacity, added while they fit and still add value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from optimizer import kernel
from optimizer.problem import F32, F64, I16, MAX_ATTEMPTS_PER_DAY, U8, B, Params, Plan, Problem
from optimizer.solve import to_plan


@njit(cache=True)
def _assign_rule(
    order: npt.NDArray[np.int64],
    tier_channel: npt.NDArray[np.int64],
    channel_order: npt.NDArray[np.int64],
    slot_order: npt.NDArray[np.int64],
    allowed: B,
    max_attempts: U8,
    max_per_channel: U8,
    handle: F32,
    voice: int,
    voice_room: F64,
    budget_room: F64,
    bpa: F64,
    choice: I16,
) -> None:
    n_sl = allowed.shape[2]
    n_ch = allowed.shape[1]
    for q in range(order.shape[0]):
        i = order[q]
        if max_attempts[i] == 0:
            continue
        start = tier_channel[q]
        done = False
        for r in range(n_ch):
            c = channel_order[(start + r) % n_ch]
            if max_per_channel[i, c] == 0 or budget_room[c] < bpa[c] - 1e-9:
                continue
            for s in range(n_sl):
                t = slot_order[c * n_sl + s]
                if not allowed[i, c, t]:
                    continue
                if c == voice and handle[i] > voice_room[t] + 1e-9:
                    continue
                choice[i, 0] = np.int16(c * n_sl + t)
                budget_room[c] -= bpa[c]
                if c == voice:
                    voice_room[t] -= handle[i]
                done = True
                break
            if done:
                break


def _rooms(problem: Problem) -> tuple[F64, F64]:
    vroom = (
        problem.voice_capacity() if problem.voice_channel >= 0 else np.full(problem.n_slots, 0.0)
    )
    broom = np.where(problem.budget_per_attempt > 0, problem.budget, np.inf).astype(np.float64)
    return np.ascontiguousarray(vroom, np.float64), np.ascontiguousarray(broom)


def rule_baseline(
    problem: Problem,
    params: Params | None = None,
    balance: F64 | None = None,
    tier_shares: tuple[float, float] = (1 / 3, 1 / 3),
    channel_order: tuple[int, ...] | None = None,
    preferred_slot: tuple[int, ...] | None = None,
) -> Plan:
    """Vendor-style segment rules; returns a Plan scored with the same objective.

    ``balance`` ranks customers (default: their best single attempt value as
    a proxy); ``channel_order`` gives the tiers' channels, best tier first
    (default: voice, then the others in index order); ``preferred_slot[c]``
    is the habitual hour slot of channel c (default slot 2, e.g. 10:00),
    later slots then earlier ones are the fallbacks.
    """
    params = params or Params()
    n, n_ch, n_sl = problem.value.shape
    if channel_order is None:
        rest = [c for c in range(n_ch) if c != problem.voice_channel]
        channel_order = tuple(
            ([problem.voice_channel] if problem.voice_channel >= 0 else []) + rest
        )
    if sorted(channel_order) != list(range(n_ch)):
        raise ValueError(f"rule_baseline: channel_order must be a permutation of 0..{n_ch - 1}")
    pref = preferred_slot or tuple(min(2, n_sl - 1) for _ in range(n_ch))
    slot_order = np.empty(n_ch * n_sl, np.int64)
    for c in range(n_ch):
        p = pref[c]
        seq = list(range(p, n_sl)) + list(range(p - 1, -1, -1))
        slot_order[c * n_sl : (c + 1) * n_sl] = seq
    key = problem.value.max(axis=(1, 2)) if balance is None else np.asarray(balance)
    order = np.argsort(-key, kind="stable").astype(np.int64)
    tiers = np.full(n, 2 if n_ch > 2 else n_ch - 1, np.int64)
    cut1 = round(tier_shares[0] * n)
    cut2 = round((tier_shares[0] + tier_shares[1]) * n)
    tiers[:cut1] = 0
    tiers[cut1:cut2] = min(1, n_ch - 1)
    choice = np.full((n, MAX_ATTEMPTS_PER_DAY), -1, np.int16)
    vroom, broom = _rooms(problem)
    _assign_rule(
        order,
        tiers,
        np.asarray(channel_order, np.int64),
        slot_order,
        problem.allowed,
        problem.max_attempts,
        problem.max_per_channel,
        problem.handle_minutes,
        problem.voice_channel,
        vroom,
        broom,
        problem.budget_per_attempt,
        choice,
    )
    return to_plan(
        problem, choice, params.repeat_value_factor, np.inf, np.zeros(n_sl + n_ch), "rule", {}
    )


def greedy_baseline(problem: Problem, params: Params | None = None) -> Plan:
    """Greedy by value density: net value over the share of scarce capacity used."""
    params = params or Params()
    n, n_ch, n_sl = problem.value.shape
    choice = np.full((n, MAX_ATTEMPTS_PER_DAY), -1, np.int16)
    vroom, broom = _rooms(problem)
    usable = problem.allowed & (problem.max_per_channel[:, :, None] > 0)
    usable &= (problem.max_attempts > 0)[:, None, None]
    usable &= problem.value > problem.cost[None, :, None]
    ii, cc, tt = np.nonzero(usable)
    net = problem.value[ii, cc, tt].astype(np.float64) - problem.cost[cc]
    share = np.where(np.isfinite(broom), problem.budget_per_attempt / np.maximum(broom, 1e-9), 0.0)
    use = share[cc]
    if problem.voice_channel >= 0:
        voice = cc == problem.voice_channel
        use[voice] += problem.handle_minutes[ii[voice]] / np.maximum(vroom[tt[voice]], 1e-9)
    # an attempt that uses no scarce capacity competes as if it used the
    # least any scarce one does (else a 0.01 email would outrank every call)
    floor = float(use[use > 0].min(initial=1.0))
    density = net / np.maximum(use, floor)
    order = np.argsort(-density, kind="stable")
    kernel.fill(
        kernel.day_arrays(problem),
        params.repeat_value_factor,
        choice,
        vroom,
        broom,
        ii[order],
        (cc[order] * n_sl + tt[order]),
    )
    return to_plan(
        problem, choice, params.repeat_value_factor, np.inf, np.zeros(n_sl + n_ch), "greedy", {}
    )
