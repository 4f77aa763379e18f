"""Compiled per-customer kernels of the scale path (numba).

numba earns its dependency here: the per-customer subproblem is a tiny
branch-and-bound (slots and channel caps interact, so a greedy pick is not
exact), and a million of them per price iteration is 15-30 s in numpy against
well under a second compiled.

Choices are stored as ``int16[N, K]`` rows of item codes ``c * T + t`` sorted
by value descending, padded with -1.

Every kernel that reads the day takes it as one ``DayArrays`` (see its key).

Speed rules for the helpers of the per-customer loops: they must end up
inlined into the loop. A real call passes every field of each NamedTuple it
is given, and numba may wrap it in an atomic reference-count increment and
decrement per array; in trials that doubled ``evaluate``'s time. LLVM inlines
the small helpers on its own; the ones it will not are marked
``inline="always"`` (numba then inlines them before LLVM sees the code).
(``fill`` still calls ``_f_of`` and ``_with_inserted``, which take plain
arrays, for the candidates that fit: as fast as before in trials.) Helpers
also read NamedTuple fields into locals once, at the top, rather than inside
their loops. After a change, check the optimised IR
(``evaluate.inspect_llvm()`` with caching off): the per-customer loops
should hold no call and no ``NRT_incref``/``NRT_decref``.
Marking every helper ``inline="always"`` is worse, not safer: the copies of
their array arguments leave reference counting that numba's pruner cannot
remove.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from optimizer.problem import F32, F64, I16, U8, B, Problem

I64 = npt.NDArray[np.int64]


class DayArrays(NamedTuple):
    """The arrays of one day that the kernels read, for N customers, C channels, T slots.

    Key (every array C-contiguous, as ``Problem`` guarantees):

    * ``value``: float32 ``[N, C, T]``, expected value of a first attempt to
      customer ``i`` through channel ``c`` in slot ``t`` (currency units).
    * ``allowed``: bool ``[N, C, T]``, whether that attempt may be made at all.
    * ``max_attempts``: uint8 ``[N]``, attempts customer ``i`` may get today,
      all channels together.
    * ``max_per_channel``: uint8 ``[N, C]``, attempts customer ``i`` may get
      today through channel ``c``.
    * ``handle_minutes``: float32 ``[N]``, agent-minutes one voice attempt to
      customer ``i`` takes.
    * ``cost``: float64 ``[C]``, currency cost of one attempt through ``c``.
    * ``budget_per_attempt``: float64 ``[C]``, budget units one attempt
      through ``c`` uses.
    * ``voice``: index of the voice channel in ``C``, or -1 if none (not an
      array; the one scalar every kernel needs with the arrays).
    """

    value: F32
    allowed: B
    max_attempts: U8
    max_per_channel: U8
    handle_minutes: F32
    cost: F64
    budget_per_attempt: F64
    voice: int


def day_arrays(problem: Problem) -> DayArrays:
    """The kernels' view of ``problem`` (the same arrays, not copies)."""
    return DayArrays(
        value=problem.value,
        allowed=problem.allowed,
        max_attempts=problem.max_attempts,
        max_per_channel=problem.max_per_channel,
        handle_minutes=problem.handle_minutes,
        cost=problem.cost,
        budget_per_attempt=problem.budget_per_attempt,
        voice=int(problem.voice_channel),
    )


@njit(cache=True)
def _f_of(value: F32, cost: F64, i: int, row: I16, T: int, rho: float) -> float:
    """f_i(S) for the set in ``row`` (true objective, no prices)."""
    vmax = 0.0
    total = 0.0
    n = 0
    for k in range(row.shape[0]):
        j = row[k]
        if j < 0:
            continue
        c = j // T
        v = float(value[i, c, j % T])
        vmax = max(vmax, v)
        total += rho * v - cost[c]
        n += 1
    if n == 0:
        return 0.0
    return total + (1.0 - rho) * vmax


# --- the priced per-customer subproblem ------------------------------------
#
# Customer i's subproblem at prices (lam, mu): choose a set S of attempts
# maximising f_i(S) - sum_{j in S} w_j, where w_j is the attempt's cost plus
# the price of the room it takes. Written with a *lead* (counted in full) and
# *completions* (counted rho of their value), a set is worth
#     h(lead) + sum_{completions} g(j),  h = v - w,  g = rho * v - w,
# which equals its true priced worth when the lead is its most valuable
# attempt and underestimates it otherwise, so maximising over (lead,
# completions) pairs is exact. Leads are tried by h descending; completions
# come from a pool sorted by g descending, whose prefix sums bound every branch.


class _Workspace(NamedTuple):
    """Scratch arrays of one ``_evaluate_range`` call, reused customer after customer.

    Key (M = C * T possible attempts of a customer, K = width of a choice row):

    * Candidates of the current customer: the allowed attempts with a
      positive priced margin, indices ``0 <= k < n``; all ``[M]``:

      * ``chan``: int64, channel ``c`` of candidate ``k``.
      * ``slot``: int64, slot ``t`` of candidate ``k``.
      * ``value``: float64, its value ``v`` (first-attempt worth).
      * ``lead_margin``: float64, ``h = v - w``: its priced worth as the lead.
      * ``repeat_margin``: float64, ``g = rho * v - w``: its priced worth as a
        completion.
      * ``tried``: int64, 1 once the candidate has been searched as the lead.

    * ``pool``: int64 ``[M]``, the candidates that may complete a set (``g >
      0``, at most as many per channel as can matter), by ``g`` descending.
    * ``pool_prefix``: float64 ``[M + 1]``, ``pool_prefix[k]`` is the sum of
      ``g`` over ``pool[:k]``: the most any ``k`` completions can add.
    * ``chan_count``: int64 ``[C]``, attempts per channel (pool entries while
      building the pool; the lead and the completions on the search path
      while searching).
    * ``path``: int64 ``[K]``, the completions on the search path, by depth.
    * ``next_pos``: int64 ``[K + 1]``, the next pool position to try at each
      depth of the search.
    * ``best_set``: int64 ``[K]``, candidate indices of the best set so far,
      the lead first.
    """

    chan: I64
    slot: I64
    value: F64
    lead_margin: F64
    repeat_margin: F64
    tried: I64
    pool: I64
    pool_prefix: F64
    chan_count: I64
    path: I64
    next_pos: I64
    best_set: I64


@njit(cache=True)
def _new_workspace(n_ch: int, n_sl: int, width: int) -> _Workspace:
    """Scratch arrays for customers with ``n_ch * n_sl`` possible attempts, rows of ``width``."""
    m = n_ch * n_sl
    return _Workspace(
        np.empty(m, np.int64),
        np.empty(m, np.int64),
        np.empty(m, np.float64),
        np.empty(m, np.float64),
        np.empty(m, np.float64),
        np.empty(m, np.int64),
        np.empty(m, np.int64),
        np.empty(m + 1, np.float64),
        np.zeros(n_ch, np.int64),
        np.empty(width, np.int64),
        np.empty(width + 1, np.int64),
        np.empty(width, np.int64),
    )


@njit(cache=True)
def _list_candidates(
    day: DayArrays, weight: F64, mu: F64, rho: float, ws: _Workspace, i: int, a_i: int
) -> int:
    """Fill ``ws``'s candidates with customer ``i``'s attempts worth making at these prices.

    ``weight[c]`` is channel ``c``'s cost plus its budget price; voice
    attempts also pay ``mu[t]`` per agent-minute. An attempt whose priced
    margin ``h`` is not positive is in no optimal set (as the lead it loses
    value, as a completion ``g <= h`` even more), so it is left out. Returns ``n``.
    """
    value, allowed, per_channel = day.value, day.allowed, day.max_per_channel
    handle, voice = day.handle_minutes, day.voice
    chan, slot, val, h_of, g_of = ws.chan, ws.slot, ws.value, ws.lead_margin, ws.repeat_margin
    n = 0
    if a_i <= 0:
        return n
    n_ch, n_sl = value.shape[1], value.shape[2]
    for c in range(n_ch):
        if per_channel[i, c] == 0:
            continue
        for t in range(n_sl):
            if not allowed[i, c, t]:
                continue
            v = float(value[i, c, t])
            w = weight[c]
            if c == voice:
                w += mu[t] * handle[i]
            h = v - w
            if h <= 0.0:
                continue
            chan[n] = c
            slot[n] = t
            val[n] = v
            h_of[n] = h
            g_of[n] = rho * v - w
            n += 1
    return n


@njit(cache=True)
def _best_single(ws: _Workspace, n: int) -> tuple[float, int]:
    """One attempt allowed: the candidate of largest priced margin, no search needed.

    Returns ``(best priced worth, size of the best set)``; the set is in ``ws.best_set``.
    """
    h, best_set = ws.lead_margin, ws.best_set
    best = 0.0
    nbest = 0
    for k in range(n):
        if h[k] > best:
            best = h[k]
            best_set[0] = k
            nbest = 1
    return best, nbest


# LLVM leaves this one a real call: inline it in numba (see the module docstring)
@njit(cache=True, inline="always")
def _build_pool(day: DayArrays, ws: _Workspace, i: int, n: int, rest: int) -> int:
    """Sort the candidates with ``g > 0`` into ``ws.pool`` by ``g`` descending; returns its size.

    Per channel only the top ``min(a_c, rest) + rest`` can matter: the other
    chosen attempts block at most ``rest`` of them (exchange argument), so
    keeping only those keeps the search exact. Also fills ``ws.pool_prefix``.
    """
    per_channel = day.max_per_channel
    chan, g, pool, prefix, cnt = ws.chan, ws.repeat_margin, ws.pool, ws.pool_prefix, ws.chan_count
    for c in range(cnt.shape[0]):
        cnt[c] = 0
    size = 0
    for k in range(n):
        if g[k] <= 0.0:
            continue
        c = chan[k]
        lim = min(int(per_channel[i, c]), rest) + rest
        if cnt[c] >= lim:
            # full for this channel: replace its weakest if k beats it
            worst = -1
            for q in range(size):
                if chan[pool[q]] == c:
                    worst = q
            if g[pool[worst]] >= g[k]:
                continue
            for q in range(worst, size - 1):
                pool[q] = pool[q + 1]
            size -= 1
            cnt[c] -= 1
        # insertion step (stable: equal g keep candidate order)
        q = size - 1
        while q >= 0 and g[pool[q]] < g[k]:
            pool[q + 1] = pool[q]
            q -= 1
        pool[q + 1] = k
        size += 1
        cnt[c] += 1
    prefix[0] = 0.0
    for k in range(size):
        prefix[k + 1] = prefix[k] + g[pool[k]]
    return size


@njit(cache=True)
def _next_lead(ws: _Workspace, n: int) -> tuple[int, float]:
    """The untried candidate of largest (positive) ``h`` and that ``h``; -1 when none is left."""
    tried, h = ws.tried, ws.lead_margin
    lead = -1
    h_lead = 0.0
    for k in range(n):
        if tried[k] == 0 and h[k] > h_lead:
            h_lead = h[k]
            lead = k
    return lead, h_lead


@njit(cache=True)
def _complete_lead(
    day: DayArrays,
    ws: _Workspace,
    i: int,
    lead: int,
    h_lead: float,
    rest: int,
    pool_size: int,
    best: float,
    nbest: int,
) -> tuple[float, int]:
    """Depth-first search for the best completions (at most ``rest``) of ``lead``.

    Pool entries are tried in ``g`` order; a branch is cut once even the next
    best ``g``s it could still take cannot beat ``best``. A completion must
    use a slot the set leaves free and a channel under its cap. Returns the
    improved ``(best, nbest)``, with the set in ``ws.best_set``.
    """
    per_channel = day.max_per_channel
    chan, slot, g, best_set = ws.chan, ws.slot, ws.repeat_margin, ws.best_set
    pool, prefix, cnt, path, pos = ws.pool, ws.pool_prefix, ws.chan_count, ws.path, ws.next_pos
    used = np.int64(1) << slot[lead]  # slot bitmask (at most 62 slots)
    for c in range(cnt.shape[0]):
        cnt[c] = 0
    cnt[chan[lead]] = 1
    cur = 0.0
    depth = 0
    pos[0] = 0
    while depth >= 0:
        p = pos[depth]
        r = rest - depth
        if (
            r == 0
            or p >= pool_size
            or h_lead + cur + prefix[min(p + r, pool_size)] - prefix[p] <= best
        ):
            # this depth is exhausted or cannot win: back up one completion
            depth -= 1
            if depth >= 0:
                j = path[depth]
                cur -= g[j]
                used ^= np.int64(1) << slot[j]
                cnt[chan[j]] -= 1
                pos[depth] += 1
            continue
        j = pool[p]
        cj = chan[j]
        if (used >> slot[j]) & 1 or cnt[cj] >= per_channel[i, cj]:
            pos[depth] = p + 1
            continue
        path[depth] = j
        cur += g[j]
        used |= np.int64(1) << slot[j]
        cnt[cj] += 1
        if h_lead + cur > best:
            best = h_lead + cur
            nbest = depth + 2
            best_set[0] = lead
            for q in range(depth + 1):
                best_set[q + 1] = path[q]
        depth += 1
        pos[depth] = p + 1
    return best, nbest


# LLVM leaves this one a real call: inline it in numba (see the module docstring)
@njit(cache=True, inline="always")
def _search_leads(
    day: DayArrays, ws: _Workspace, i: int, n: int, rest: int, pool_size: int
) -> tuple[float, int]:
    """Branch and bound over leads and up to ``rest`` completions from the pool.

    Leads come by ``h`` descending; once a lead plus the ``rest`` best
    completions cannot beat the best set, no later lead can either.
    Returns ``(best priced worth, size of the best set)``; the set is in ``ws.best_set``.
    """
    tried, prefix, best_set = ws.tried, ws.pool_prefix, ws.best_set
    for k in range(n):
        tried[k] = 0
    best = 0.0
    nbest = 0
    lead, h_lead = _next_lead(ws, n)
    # stop at the first lead that cannot win even with the best completions
    # (spelt `not <=` to keep the exact test the search has always used)
    while lead >= 0 and not h_lead + prefix[min(rest, pool_size)] <= best:
        tried[lead] = 1
        if h_lead > best:
            best = h_lead
            nbest = 1
            best_set[0] = lead
        if pool_size > 0:
            best, nbest = _complete_lead(day, ws, i, lead, h_lead, rest, pool_size, best, nbest)
        lead, h_lead = _next_lead(ws, n)
    return best, nbest


@njit(cache=True)
def _sort_best_by_value(ws: _Workspace, nbest: int) -> None:
    """Order ``ws.best_set[:nbest]`` by value descending, as choice rows are stored."""
    best_set, val = ws.best_set, ws.value
    for k in range(1, nbest):
        x = best_set[k]
        q = k - 1
        while q >= 0 and val[best_set[q]] < val[x]:
            best_set[q + 1] = best_set[q]
            q -= 1
        best_set[q + 1] = x


@njit(cache=True)
def _tally_best(
    day: DayArrays,
    ws: _Workspace,
    rho: float,
    i: int,
    nbest: int,
    primal: float,
    voice_use: F64,
    chan_use: F64,
) -> float:
    """Add customer ``i``'s best set to the running totals; returns the new ``primal``.

    ``primal`` is passed through rather than summed per customer so the
    floating-point additions happen in the same order as always.
    """
    cost, handle, voice = day.cost, day.handle_minutes, day.voice
    best_set, chan, slot, val = ws.best_set, ws.chan, ws.slot, ws.value
    if nbest > 0:
        primal += (1.0 - rho) * val[best_set[0]]
    for k in range(nbest):
        j = best_set[k]
        c = chan[j]
        primal += rho * val[j] - cost[c]
        chan_use[c] += 1.0
        if c == voice:
            voice_use[slot[j]] += handle[i]
    return primal


@njit(cache=True)
def _write_best(ws: _Workspace, choice: I16, i: int, nbest: int, n_sl: int) -> None:
    """Store the best set as customer ``i``'s choice row (item codes, -1 padded)."""
    best_set, chan, slot = ws.best_set, ws.chan, ws.slot
    for k in range(choice.shape[1]):
        choice[i, k] = np.int16(chan[best_set[k]] * n_sl + slot[best_set[k]]) if k < nbest else -1


@njit(cache=True)
def _evaluate_range(
    day: DayArrays,
    lam: F64,
    mu: F64,
    rho: float,
    choice: I16,
    write: bool,
    lo: int,
    hi: int,
) -> tuple[float, float, F64, F64]:
    """Solve the priced subproblems of customers ``lo..hi-1`` exactly.

    Returns ``(sum of priced optima, sum of true f_i of those choices,
    voice minutes used per slot, attempts per channel)``; writes ``choice``
    when ``write``.
    """
    cost, max_attempts, budget_per_attempt = day.cost, day.max_attempts, day.budget_per_attempt
    n_ch, n_sl = day.value.shape[1], day.value.shape[2]
    width = choice.shape[1]
    ws = _new_workspace(n_ch, n_sl, width)
    weight = np.empty(n_ch, np.float64)
    for c in range(n_ch):
        weight[c] = cost[c] + lam[c] * budget_per_attempt[c]
    voice_use = np.zeros(n_sl, np.float64)
    chan_use = np.zeros(n_ch, np.float64)
    dual = 0.0
    primal = 0.0
    for i in range(lo, hi):
        a_i = min(int(max_attempts[i]), width)
        n = _list_candidates(day, weight, mu, rho, ws, i, a_i)
        best = 0.0
        nbest = 0
        if n > 0 and a_i == 1:
            best, nbest = _best_single(ws, n)
        elif n > 0:
            pool_size = _build_pool(day, ws, i, n, a_i - 1)
            best, nbest = _search_leads(day, ws, i, n, a_i - 1, pool_size)
        dual += best
        _sort_best_by_value(ws, nbest)
        primal = _tally_best(day, ws, rho, i, nbest, primal, voice_use, chan_use)
        if write:
            _write_best(ws, choice, i, nbest, n_sl)
    return dual, primal, voice_use, chan_use


_CHUNKS = 64


@njit(cache=True)
def evaluate(
    day: DayArrays, lam: F64, mu: F64, rho: float, choice: I16, write: bool
) -> tuple[float, float, F64, F64]:
    """Solve every customer's priced subproblem exactly (one thread).

    ``lam[c]`` prices one budget unit of channel ``c`` and ``mu[t]`` one
    agent-minute in slot ``t``; ``rho`` is the repeat value factor.
    Returns ``(sum of priced optima, sum of true f_i of those choices,
    voice minutes used per slot, attempts per channel)``; writes ``choice``
    when ``write``.
    """
    return _evaluate_range(day, lam, mu, rho, choice, write, 0, day.value.shape[0])


@njit(cache=True, parallel=True)
def evaluate_parallel(
    day: DayArrays, lam: F64, mu: F64, rho: float, choice: I16, write: bool
) -> tuple[float, float, F64, F64]:
    """``evaluate`` over fixed chunks in parallel threads (deterministic sums).

    Worth it only on an otherwise idle machine: with the cores shared,
    oversubscribed threads made it 3x slower than one thread in trials.
    """
    n_cust, n_ch, n_sl = day.value.shape
    chunks = min(_CHUNKS, max(n_cust, 1))
    duals = np.zeros(chunks)
    primals = np.zeros(chunks)
    vparts = np.zeros((chunks, n_sl))
    cparts = np.zeros((chunks, n_ch))
    for b in prange(chunks):
        lo = b * n_cust // chunks
        hi = (b + 1) * n_cust // chunks
        d, pr, vu, cu = _evaluate_range(day, lam, mu, rho, choice, write, lo, hi)
        duals[b] = d
        primals[b] = pr
        vparts[b] = vu
        cparts[b] = cu
    dual = 0.0
    primal = 0.0
    voice_use = np.zeros(n_sl)
    chan_use = np.zeros(n_ch)
    for b in range(chunks):
        dual += duals[b]
        primal += primals[b]
        voice_use += vparts[b]
        chan_use += cparts[b]
    return dual, primal, voice_use, chan_use


@njit(cache=True)
def usage_of(choice: I16, handle: F32, n_ch: int, n_sl: int, voice: int) -> tuple[F64, F64]:
    """Voice minutes per slot and attempts per channel of a choice array."""
    voice_use = np.zeros(n_sl, np.float64)
    chan_use = np.zeros(n_ch, np.float64)
    for i in range(choice.shape[0]):
        for k in range(choice.shape[1]):
            j = choice[i, k]
            if j < 0:
                continue
            c = j // n_sl
            chan_use[c] += 1.0
            if c == voice:
                voice_use[j % n_sl] += handle[i]
    return voice_use, chan_use


@njit(cache=True)
def objective_of(value: F32, cost: F64, choice: I16, rho: float) -> float:
    """Sum of f_i over a choice array."""
    n_sl = value.shape[2]
    total = 0.0
    for i in range(choice.shape[0]):
        total += _f_of(value, cost, i, choice[i], n_sl, rho)
    return total


@njit(cache=True)
def removal_losses(
    value: F32, cost: F64, choice: I16, rho: float, rows: np.ndarray, cols: np.ndarray
) -> F64:
    """``f_i(S) - f_i(S minus the attempt)`` for the attempts ``choice[rows, cols]``."""
    n_sl = value.shape[2]
    out = np.empty(rows.shape[0])
    for q in range(rows.shape[0]):
        i = rows[q]
        k = cols[q]
        j = choice[i, k]
        c = j // n_sl
        v = float(value[i, c, j % n_sl])
        if k == 0:
            nxt = 0.0
            if choice.shape[1] > 1 and choice[i, 1] >= 0:
                j1 = choice[i, 1]
                nxt = float(value[i, j1 // n_sl, j1 % n_sl])
            out[q] = v - cost[c] - (1.0 - rho) * nxt
        else:
            out[q] = rho * v - cost[c]
    return out


@njit(cache=True)
def remove_attempt(choice: I16, i: int, k: int) -> None:
    """Drop attempt ``k`` of customer ``i``, keeping the row sorted and packed."""
    width = choice.shape[1]
    for q in range(k, width - 1):
        choice[i, q] = choice[i, q + 1]
    choice[i, width - 1] = -1


@njit(cache=True)
def remove_many(choice: I16, cust: np.ndarray, code: np.ndarray) -> None:
    """Drop the attempts ``(cust[q], code[q])``."""
    for q in range(cust.shape[0]):
        i = cust[q]
        for k in range(choice.shape[1]):
            if choice[i, k] == code[q]:
                remove_attempt(choice, i, k)
                break


# LLVM leaves this one a real call: inline it in numba (see the module docstring)
@njit(cache=True, inline="always")
def _row_usage(choice: I16, i: int, c: int, t: int, n_sl: int) -> tuple[int, int, bool]:
    """Customer ``i``'s current set against attempt ``(c, t)``.

    Returns ``(attempts, attempts through channel c, whether slot t is taken)``.
    """
    n = 0
    n_c = 0
    clash = False
    for k in range(choice.shape[1]):
        x = choice[i, k]
        if x < 0:
            continue
        n += 1
        if x // n_sl == c:
            n_c += 1
        if x % n_sl == t:
            clash = True
    return n, n_c, clash


@njit(cache=True)
def _with_inserted(value: F32, row: I16, i: int, j: int, out: I16) -> None:
    """``out`` = customer ``i``'s ``row`` with item ``j`` inserted, keeping value order."""
    n_sl = value.shape[2]
    width = row.shape[0]
    v = value[i, j // n_sl, j % n_sl]
    m = 0
    placed = False
    for k in range(width):
        x = row[k]
        if x < 0:
            break
        if not placed and value[i, x // n_sl, x % n_sl] < v:
            out[m] = np.int16(j)
            m += 1
            placed = True
        out[m] = x
        m += 1
    if not placed:
        out[m] = np.int16(j)
        m += 1
    for k in range(m, width):
        out[k] = -1


@njit(cache=True)
def fill(
    day: DayArrays,
    rho: float,
    choice: I16,
    voice_room: F64,
    budget_room: F64,
    cust: np.ndarray,
    code: np.ndarray,
) -> int:
    """Greedily add candidate attempts ``(cust[q], code[q])`` in the given order.

    Each is re-checked against the customer's current set and the remaining
    room; it is added only when its marginal true value is positive.
    Updates ``choice``, ``voice_room`` and ``budget_room``; returns the number added.
    """
    value, allowed, cost = day.value, day.allowed, day.cost
    max_attempts, per_channel = day.max_attempts, day.max_per_channel
    bpa, handle, voice = day.budget_per_attempt, day.handle_minutes, day.voice
    n_sl = value.shape[2]
    width = choice.shape[1]
    added = 0
    tmp = np.empty(width, np.int16)
    for q in range(cust.shape[0]):
        i = cust[q]
        j = code[q]
        c = j // n_sl
        t = j % n_sl
        # the attempt must be allowed, take a free slot, stay within the
        # customer's limits and fit the remaining budget and voice minutes
        if not allowed[i, c, t]:
            continue
        n, n_c, clash = _row_usage(choice, i, c, t, n_sl)
        if clash or n >= min(int(max_attempts[i]), width) or n_c >= per_channel[i, c]:
            continue
        if bpa[c] > budget_room[c] + 1e-9:
            continue
        if c == voice and handle[i] > voice_room[t] + 1e-9:
            continue
        before = _f_of(value, cost, i, choice[i], n_sl, rho)
        _with_inserted(value, choice[i], i, j, tmp)
        after = _f_of(value, cost, i, tmp, n_sl, rho)
        if after - before <= 1e-12:
            continue
        for k in range(width):
            choice[i, k] = tmp[k]
        budget_room[c] -= bpa[c]
        if c == voice:
            voice_room[t] -= handle[i]
        added += 1
    return added


@njit(cache=True)
def _grown(cust: I64, code: I64, score: F64, n: int) -> tuple[I64, I64, F64]:
    """The three candidate buffers at twice their size, their first ``n`` entries kept."""
    cap = 2 * cust.shape[0]
    cust2 = np.empty(cap, np.int64)
    code2 = np.empty(cap, np.int64)
    score2 = np.empty(cap, np.float64)
    cust2[:n] = cust[:n]
    code2[:n] = code[:n]
    score2[:n] = score[:n]
    return cust2, code2, score2


# LLVM leaves this one a real call: inline it in numba (see the module docstring)
@njit(cache=True, inline="always")
def _current_set(value: F32, choice: I16, i: int, chan_count: I64) -> tuple[int, np.int64, float]:
    """Customer ``i``'s current set: ``(attempts, slot bitmask, largest value)``.

    Also counts its attempts per channel into ``chan_count``.
    """
    n_sl = value.shape[2]
    used = np.int64(0)
    k_i = 0
    for c in range(chan_count.shape[0]):
        chan_count[c] = 0
    vmax = 0.0
    for k in range(choice.shape[1]):
        j = choice[i, k]
        if j < 0:
            continue
        k_i += 1
        chan_count[j // n_sl] += 1
        used |= np.int64(1) << (j % n_sl)
        vmax = max(vmax, float(value[i, j // n_sl, j % n_sl]))
    return k_i, used, vmax


@njit(cache=True)
def _marginal_gain(v: float, cost_c: float, rho: float, k_i: int, vmax: float) -> float:
    """True gain of adding an attempt worth ``v`` (costing ``cost_c``) to a set of
    ``k_i`` attempts whose best is worth ``vmax``.

    A new most valuable attempt takes over the lead (the old lead drops to
    ``rho`` of its value); otherwise the newcomer counts ``rho`` of its own.
    """
    if k_i == 0:
        return v - cost_c
    if v > vmax:
        return v - (1.0 - rho) * vmax - cost_c
    return rho * v - cost_c


@njit(cache=True)
def fill_candidates(
    day: DayArrays,
    lam: F64,
    mu: F64,
    rho: float,
    choice: I16,
    voice_room: F64,
    budget_room: F64,
) -> tuple[I64, I64, F64]:
    """Attempts that could be added now: allowed, fitting the customer's
    limits and the remaining room, with a positive true marginal value.

    Returns ``(customer, item code, score)`` arrays; the score is that
    marginal value minus the priced room it takes.
    """
    value, allowed, max_attempts, per_channel = (
        day.value,
        day.allowed,
        day.max_attempts,
        day.max_per_channel,
    )
    handle, cost, bpa, voice = day.handle_minutes, day.cost, day.budget_per_attempt, day.voice
    n_cust, n_ch, n_sl = value.shape
    width = choice.shape[1]
    cust = np.empty(1 << 16, np.int64)
    code = np.empty(1 << 16, np.int64)
    score = np.empty(1 << 16, np.float64)
    cnt = np.zeros(n_ch, np.int64)
    n = 0
    for i in range(n_cust):
        a_i = min(int(max_attempts[i]), width)
        k_i, used, vmax = _current_set(value, choice, i, cnt)
        if k_i >= a_i:
            continue
        for c in range(n_ch):
            if cnt[c] >= per_channel[i, c] or budget_room[c] < bpa[c] - 1e-9:
                continue
            for t in range(n_sl):
                if not allowed[i, c, t] or (used >> t) & 1:
                    continue
                if c == voice and handle[i] > voice_room[t] + 1e-9:
                    continue
                gain = _marginal_gain(float(value[i, c, t]), cost[c], rho, k_i, vmax)
                if gain <= 0.0:
                    continue
                w = lam[c] * bpa[c]
                if c == voice:
                    w += mu[t] * handle[i]
                # far below its price: would only waste room a better one needs
                if gain < 0.9 * w:
                    continue
                if n == cust.shape[0]:
                    cust, code, score = _grown(cust, code, score, n)
                cust[n] = i
                code[n] = c * n_sl + t
                score[n] = gain - w
                n += 1
    return cust[:n], code[:n], score[:n]


@njit(cache=True)
def attempts_on(
    choice: I16, n_sl: int, voice: int, over: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, constraint) of every stored attempt using an over-used constraint.

    Constraint indices: slot ``t`` for voice minutes, ``T + c`` for channel budgets.
    """
    cap = 1024
    rows = np.empty(cap, np.int64)
    cols = np.empty(cap, np.int64)
    ks = np.empty(cap, np.int64)
    n = 0
    for i in range(choice.shape[0]):
        for k in range(choice.shape[1]):
            j = choice[i, k]
            if j < 0:
                continue
            c = j // n_sl
            for kk in (j % n_sl if c == voice else -1, n_sl + c):
                if kk < 0 or not over[kk]:
                    continue
                if n == cap:
                    cap *= 2
                    r2 = np.empty(cap, np.int64)
                    c2 = np.empty(cap, np.int64)
                    k2 = np.empty(cap, np.int64)
                    r2[:n] = rows[:n]
                    c2[:n] = cols[:n]
                    k2[:n] = ks[:n]
                    rows, cols, ks = r2, c2, k2
                rows[n] = i
                cols[n] = k
                ks[n] = kk
                n += 1
    return rows[:n], cols[:n], ks[:n]
