"""Compiled per-customer kernels of the scale path (numba).

numba earns its dependency here: the per-customer subproblem is a tiny
branch-and-bound (slots and channel caps interact, so a greedy pick is not
exact), and a million of them per price iteration is 15-30 s in numpy against
well under a second compiled.

Choices are stored as ``int16[N, K]`` rows of item codes ``c * T + t`` sorted
by value descending, padded with -1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from optimizer.problem import F32, F64, I16, U8, B


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


@njit(cache=True)
def _evaluate_range(
    value: F32,
    allowed: B,
    max_attempts: U8,
    max_per_channel: U8,
    handle: F32,
    cost: F64,
    bpa: F64,
    lam: F64,
    mu: F64,
    voice: int,
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
    _, n_ch, n_sl = value.shape
    width = choice.shape[1]
    m = n_ch * n_sl
    cc = np.empty(m, np.int64)
    ct = np.empty(m, np.int64)
    cv = np.empty(m, np.float64)
    ch = np.empty(m, np.float64)
    cg = np.empty(m, np.float64)
    hord = np.empty(m, np.int64)
    gord = np.empty(m, np.int64)
    gcs = np.empty(m + 1, np.float64)
    stack = np.empty(width, np.int64)
    pos = np.empty(width + 1, np.int64)
    best_set = np.empty(width, np.int64)
    cnt = np.zeros(n_ch, np.int64)
    wc = np.empty(n_ch, np.float64)
    for c in range(n_ch):
        wc[c] = cost[c] + lam[c] * bpa[c]
    voice_use = np.zeros(n_sl, np.float64)
    chan_use = np.zeros(n_ch, np.float64)
    dual = 0.0
    primal = 0.0
    for i in range(lo, hi):
        a_i = min(int(max_attempts[i]), width)
        n = 0
        if a_i > 0:
            for c in range(n_ch):
                if max_per_channel[i, c] == 0:
                    continue
                for t in range(n_sl):
                    if not allowed[i, c, t]:
                        continue
                    v = float(value[i, c, t])
                    w = wc[c]
                    if c == voice:
                        w += mu[t] * handle[i]
                    hh = v - w
                    if hh <= 0.0:
                        continue
                    cc[n] = c
                    ct[n] = t
                    cv[n] = v
                    ch[n] = hh
                    cg[n] = rho * v - w
                    n += 1
        nbest = 0
        best = 0.0
        if n > 0 and a_i == 1:
            # one attempt: the best priced first attempt, no search needed
            for k in range(n):
                if ch[k] > best:
                    best = ch[k]
                    best_set[0] = k
                    nbest = 1
        elif n > 0:
            # completions by g descending, g > 0 only. Per channel only the top
            # min(a_c, rest) + rest can matter: the other chosen attempts block
            # at most `rest` of them (exchange argument), so the search is exact.
            rest = a_i - 1
            for c in range(n_ch):
                cnt[c] = 0
            for k in range(n):
                hord[k] = 0
            mg = 0
            for k in range(n):
                if cg[k] <= 0.0:
                    continue
                c = cc[k]
                lim = min(int(max_per_channel[i, c]), rest) + rest
                if cnt[c] >= lim:
                    # full for this channel: replace its weakest if k beats it
                    worst = -1
                    for q in range(mg):
                        if cc[gord[q]] == c:
                            worst = q
                    if cg[gord[worst]] >= cg[k]:
                        continue
                    for q in range(worst, mg - 1):
                        gord[q] = gord[q + 1]
                    mg -= 1
                    cnt[c] -= 1
                x = k
                q = mg - 1
                while q >= 0 and cg[gord[q]] < cg[x]:
                    gord[q + 1] = gord[q]
                    q -= 1
                gord[q + 1] = x
                mg += 1
                cnt[c] += 1
            gcs[0] = 0.0
            for k in range(mg):
                gcs[k + 1] = gcs[k] + cg[gord[k]]
            for _li in range(n):
                lead = -1
                hl = 0.0
                for k in range(n):
                    if hord[k] == 0 and ch[k] > hl:
                        hl = ch[k]
                        lead = k
                if lead < 0 or hl + gcs[min(rest, mg)] <= best:
                    break
                hord[lead] = 1
                if hl > best:
                    best = hl
                    nbest = 1
                    best_set[0] = lead
                if mg == 0:
                    continue
                used = np.int64(1) << ct[lead]
                for c in range(n_ch):
                    cnt[c] = 0
                cnt[cc[lead]] = 1
                cur = 0.0
                depth = 0
                pos[0] = 0
                while depth >= 0:
                    p = pos[depth]
                    r = rest - depth
                    if r == 0 or p >= mg or hl + cur + gcs[min(p + r, mg)] - gcs[p] <= best:
                        depth -= 1
                        if depth >= 0:
                            j = stack[depth]
                            cur -= cg[j]
                            used ^= np.int64(1) << ct[j]
                            cnt[cc[j]] -= 1
                            pos[depth] += 1
                        continue
                    j = gord[p]
                    cj = cc[j]
                    if (used >> ct[j]) & 1 or cnt[cj] >= max_per_channel[i, cj]:
                        pos[depth] = p + 1
                        continue
                    stack[depth] = j
                    cur += cg[j]
                    used |= np.int64(1) << ct[j]
                    cnt[cj] += 1
                    if hl + cur > best:
                        best = hl + cur
                        nbest = depth + 2
                        best_set[0] = lead
                        for q in range(depth + 1):
                            best_set[q + 1] = stack[q]
                    depth += 1
                    pos[depth] = p + 1
        dual += best
        # order the chosen set by value descending (the lead first)
        for k in range(1, nbest):
            x = best_set[k]
            q = k - 1
            while q >= 0 and cv[best_set[q]] < cv[x]:
                best_set[q + 1] = best_set[q]
                q -= 1
            best_set[q + 1] = x
        if nbest > 0:
            primal += (1.0 - rho) * cv[best_set[0]]
        for k in range(nbest):
            j = best_set[k]
            c = cc[j]
            primal += rho * cv[j] - cost[c]
            chan_use[c] += 1.0
            if c == voice:
                voice_use[ct[j]] += handle[i]
        if write:
            for k in range(width):
                choice[i, k] = (
                    np.int16(cc[best_set[k]] * n_sl + ct[best_set[k]]) if k < nbest else -1
                )
    return dual, primal, voice_use, chan_use


_CHUNKS = 64


@njit(cache=True)
def evaluate(
    value: F32,
    allowed: B,
    max_attempts: U8,
    max_per_channel: U8,
    handle: F32,
    cost: F64,
    bpa: F64,
    lam: F64,
    mu: F64,
    voice: int,
    rho: float,
    choice: I16,
    write: bool,
) -> tuple[float, float, F64, F64]:
    """Solve every customer's priced subproblem exactly (one thread).

    Returns ``(sum of priced optima, sum of true f_i of those choices,
    voice minutes used per slot, attempts per channel)``; writes ``choice``
    when ``write``.
    """
    return _evaluate_range(
        value,
        allowed,
        max_attempts,
        max_per_channel,
        handle,
        cost,
        bpa,
        lam,
        mu,
        voice,
        rho,
        choice,
        write,
        0,
        value.shape[0],
    )


@njit(cache=True, parallel=True)
def evaluate_parallel(
    value: F32,
    allowed: B,
    max_attempts: U8,
    max_per_channel: U8,
    handle: F32,
    cost: F64,
    bpa: F64,
    lam: F64,
    mu: F64,
    voice: int,
    rho: float,
    choice: I16,
    write: bool,
) -> tuple[float, float, F64, F64]:
    """``evaluate`` over fixed chunks in parallel threads (deterministic sums).

    Worth it only on an otherwise idle machine: with the cores shared,
    oversubscribed threads made it 3x slower than one thread in trials.
    """
    n_cust, n_ch, n_sl = value.shape
    chunks = min(_CHUNKS, max(n_cust, 1))
    duals = np.zeros(chunks)
    primals = np.zeros(chunks)
    vparts = np.zeros((chunks, n_sl))
    cparts = np.zeros((chunks, n_ch))
    for b in prange(chunks):
        lo = b * n_cust // chunks
        hi = (b + 1) * n_cust // chunks
        d, pr, vu, cu = _evaluate_range(
            value,
            allowed,
            max_attempts,
            max_per_channel,
            handle,
            cost,
            bpa,
            lam,
            mu,
            voice,
            rho,
            choice,
            write,
            lo,
            hi,
        )
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
def remove_attempt(value: F32, choice: I16, i: int, k: int) -> None:
    """Drop attempt ``k`` of customer ``i``, keeping the row sorted and packed."""
    width = choice.shape[1]
    for q in range(k, width - 1):
        choice[i, q] = choice[i, q + 1]
    choice[i, width - 1] = -1


@njit(cache=True)
def remove_many(value: F32, choice: I16, cust: np.ndarray, code: np.ndarray) -> None:
    """Drop the attempts ``(cust[q], code[q])``."""
    for q in range(cust.shape[0]):
        i = cust[q]
        for k in range(choice.shape[1]):
            if choice[i, k] == code[q]:
                remove_attempt(value, choice, i, k)
                break


@njit(cache=True)
def fill(
    value: F32,
    allowed: B,
    max_attempts: U8,
    max_per_channel: U8,
    handle: F32,
    cost: F64,
    bpa: F64,
    voice: int,
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
    Returns the number added.
    """
    n_sl = value.shape[2]
    n_ch = value.shape[1]
    width = choice.shape[1]
    added = 0
    tmp = np.empty(width, np.int16)
    for q in range(cust.shape[0]):
        i = cust[q]
        j = code[q]
        c = j // n_sl
        t = j % n_sl
        if not allowed[i, c, t]:
            continue
        n = 0
        n_c = 0
        clash = False
        for k in range(width):
            x = choice[i, k]
            if x < 0:
                continue
            n += 1
            if x // n_sl == c:
                n_c += 1
            if x % n_sl == t:
                clash = True
        if clash or n >= min(int(max_attempts[i]), width) or n_c >= max_per_channel[i, c]:
            continue
        if bpa[c] > budget_room[c] + 1e-9:
            continue
        if c == voice and handle[i] > voice_room[t] + 1e-9:
            continue
        before = _f_of(value, cost, i, choice[i], n_sl, rho)
        v = value[i, c, t]
        # insert keeping value order
        m = 0
        placed = False
        for k in range(width):
            x = choice[i, k]
            if x < 0:
                break
            if not placed and value[i, x // n_sl, x % n_sl] < v:
                tmp[m] = np.int16(j)
                m += 1
                placed = True
            tmp[m] = x
            m += 1
        if not placed:
            tmp[m] = np.int16(j)
            m += 1
        for k in range(m, width):
            tmp[k] = -1
        after = _f_of(value, cost, i, tmp, n_sl, rho)
        if after - before <= 1e-12:
            continue
        for k in range(width):
            choice[i, k] = tmp[k]
        budget_room[c] -= bpa[c]
        if c == voice:
            voice_room[t] -= handle[i]
        added += 1
    _ = n_ch
    return added


@njit(cache=True)
def fill_candidates(
    value: F32,
    allowed: B,
    max_attempts: U8,
    max_per_channel: U8,
    handle: F32,
    cost: F64,
    bpa: F64,
    lam: F64,
    mu: F64,
    voice: int,
    rho: float,
    choice: I16,
    voice_room: F64,
    budget_room: F64,
) -> tuple[np.ndarray, np.ndarray, F64]:
    """Attempts that could be added now: allowed, fitting the customer's
    limits and the remaining room, with a positive true marginal value.

    The score is that marginal value minus the priced room it takes.
    """
    n_cust, n_ch, n_sl = value.shape
    width = choice.shape[1]
    cap = 1 << 16
    cust = np.empty(cap, np.int64)
    code = np.empty(cap, np.int64)
    score = np.empty(cap, np.float64)
    cnt = np.zeros(n_ch, np.int64)
    n = 0
    for i in range(n_cust):
        a_i = min(int(max_attempts[i]), width)
        used = np.int64(0)
        k_i = 0
        for c in range(n_ch):
            cnt[c] = 0
        vmax = 0.0
        for k in range(width):
            j = choice[i, k]
            if j < 0:
                continue
            k_i += 1
            cnt[j // n_sl] += 1
            used |= np.int64(1) << (j % n_sl)
            vmax = max(vmax, float(value[i, j // n_sl, j % n_sl]))
        if k_i >= a_i:
            continue
        for c in range(n_ch):
            if cnt[c] >= max_per_channel[i, c] or budget_room[c] < bpa[c] - 1e-9:
                continue
            for t in range(n_sl):
                if not allowed[i, c, t] or (used >> t) & 1:
                    continue
                if c == voice and handle[i] > voice_room[t] + 1e-9:
                    continue
                v = float(value[i, c, t])
                gain = v - (1.0 - rho) * vmax - cost[c] if v > vmax else rho * v - cost[c]
                if k_i == 0:
                    gain = v - cost[c]
                if gain <= 0.0:
                    continue
                w = lam[c] * bpa[c]
                if c == voice:
                    w += mu[t] * handle[i]
                # far below its price: would only waste room a better one needs
                if gain < 0.9 * w:
                    continue
                if n == cap:
                    cap *= 2
                    cust2 = np.empty(cap, np.int64)
                    code2 = np.empty(cap, np.int64)
                    score2 = np.empty(cap, np.float64)
                    cust2[:n] = cust[:n]
                    code2[:n] = code[:n]
                    score2[:n] = score[:n]
                    cust, code, score = cust2, code2, score2
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
