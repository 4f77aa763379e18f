"""Why a customer got these attempts, or none: in the plan's own prices.

The scale path prices every scarce resource (``Plan.voice_minute_price``,
``Plan.budget_price``); an attempt is worth planning when its value exceeds
its cost plus the price of the room it takes. So every decision has a short
answer a campaign manager can check by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer.problem import Plan, Problem


@dataclass(frozen=True)
class Option:
    """One (channel, slot) for one customer, valued at the plan's prices."""

    channel: str
    slot: str
    value: float
    cost: float
    capacity_charge: float
    priced_by: str

    @property
    def net(self) -> float:
        """Value minus cost minus the shadow price of the room it takes."""
        return self.value - self.cost - self.capacity_charge


@dataclass(frozen=True)
class Explanation:
    """``reason`` is one of: contacted, no-attempts-left, compliance-blocked,
    low-value, priced-out, no-room."""

    customer: int
    reason: str
    summary: str
    chosen: list[Option] = field(default_factory=list)
    best_alternative: Option | None = None


def _option(
    problem: Problem, plan: Plan, i: int, c: int, t: int, labels: Sequence[str], share: float = 1.0
) -> Option:
    """``share`` of the value counts: 1 for a first attempt, the repeat factor after."""
    charge = float(plan.budget_price[c] * problem.budget_per_attempt[c])
    parts = []
    if charge > 0:
        parts.append(f"{problem.channel_name(c)} budget at {plan.budget_price[c]:.4g}/unit")
    if c == problem.voice_channel:
        vc = float(plan.voice_minute_price[t] * problem.handle_minutes[i])
        if vc > 0:
            parts.append(
                f"agent time in {labels[t]} at {plan.voice_minute_price[t]:.4g}/min"
                f" x {problem.handle_minutes[i]:.3g} min"
            )
        charge += vc
    return Option(
        channel=problem.channel_name(c),
        slot=labels[t],
        value=share * float(problem.value[i, c, t]),
        cost=float(problem.cost[c]),
        capacity_charge=charge,
        priced_by="; ".join(parts) or "no scarce resource",
    )


def explain(
    problem: Problem, plan: Plan, customer: int, slot_labels: Sequence[str] | None = None
) -> Explanation:
    """Explain the plan's decision for one customer (index into the Problem)."""
    n, _, n_sl = problem.value.shape
    if not 0 <= customer < n:
        raise ValueError(f"explain: customer index {customer} outside [0, {n})")
    labels = list(slot_labels) if slot_labels is not None else [f"slot {t}" for t in range(n_sl)]
    if len(labels) != n_sl:
        raise ValueError(f"explain: {len(labels)} slot labels for {n_sl} slots")
    i = customer
    chosen = [
        _option(problem, plan, i, c, t, labels, 1.0 if k == 0 else plan.repeat_value_factor)
        for k, (c, t) in enumerate(plan.attempts_of(i))
    ]
    ok = problem.allowed[i] & (problem.max_per_channel[i][:, None] > 0)
    opts = [
        _option(problem, plan, i, int(c), int(t), labels)
        for c, t in zip(*np.nonzero(ok), strict=True)
    ]
    taken = {(o.channel, o.slot) for o in chosen}
    others = [o for o in opts if (o.channel, o.slot) not in taken]
    alt = max(others, key=lambda o: o.net, default=None)
    if chosen:
        return _contacted(i, chosen, alt)
    return _not_contacted(problem, i, opts, alt)


def _contacted(i: int, chosen: list[Option], alt: Option | None) -> Explanation:
    """Each planned attempt's arithmetic, and the best option left out."""
    lines = [
        f"{o.channel} at {o.slot}: value {o.value:.2f} - cost {o.cost:.2f}"
        f" - capacity {o.capacity_charge:.2f} ({o.priced_by}) = {o.net:.2f}"
        for o in chosen
    ]
    if alt is not None:
        lines.append(f"next best not planned: {alt.channel} at {alt.slot}, net {alt.net:.2f}")
    return Explanation(i, "contacted", "; ".join(lines), chosen, alt)


def _not_contacted(problem: Problem, i: int, opts: list[Option], alt: Option | None) -> Explanation:
    """Why nothing was planned, checked from the hardest reason to the softest.

    ``opts`` are the customer's allowed options, ``alt`` the one with the best
    net value (none was chosen, so every option is an alternative).
    """
    if problem.max_attempts[i] == 0:
        return Explanation(i, "no-attempts-left", "no attempt allowed today (contact limits)")
    if not opts:
        blocked = [
            problem.channel_name(c)
            for c in range(problem.n_channels)
            if not problem.allowed[i, c].any()
        ]
        return Explanation(
            i,
            "compliance-blocked",
            "no channel and hour allowed by compliance (consent, local hours, lockouts): "
            + ", ".join(blocked),
        )
    best = max(opts, key=lambda o: o.value - o.cost)
    if best.value - best.cost <= 0:
        return Explanation(
            i,
            "low-value",
            f"best option {best.channel} at {best.slot} is worth {best.value:.2f},"
            f" not more than its cost {best.cost:.2f}",
            best_alternative=best,
        )
    assert alt is not None
    if alt.net <= 0:
        return Explanation(
            i,
            "priced-out",
            f"best option {alt.channel} at {alt.slot} is worth {alt.value:.2f} - cost"
            f" {alt.cost:.2f}, but the room it needs is worth {alt.capacity_charge:.2f}"
            f" to other customers ({alt.priced_by})",
            best_alternative=alt,
        )
    return Explanation(
        i,
        "no-room",
        f"{alt.channel} at {alt.slot} pays at current prices (net {alt.net:.2f}) but the"
        " capacity ran out when the plan was made feasible; it is first in line for any"
        " freed room",
        best_alternative=alt,
    )


def explain_left_out(
    problem: Problem,
    plan: Plan,
    customers: np.ndarray,
    slot_labels: Sequence[str] | None = None,
) -> list[Explanation]:
    """``explain`` for many customers the plan gave no attempt, with array arithmetic.

    Equal, customer by customer, to ``explain(problem, plan, i)`` (the tests
    compare them): the same reason, the same numbers, the same ties broken
    the same way (the first option in channel, then slot order). ``explain``
    builds every (channel, slot) option of a customer to pick the best one;
    here the nets of all customers are computed at once and only the one or
    two options a reason names are built. A 200,000-debtor day leaves tens of
    thousands out, and one call each took seconds.
    """
    idx = np.asarray(customers, dtype=np.int64)
    n_sl = problem.n_slots
    labels = list(slot_labels) if slot_labels is not None else [f"slot {t}" for t in range(n_sl)]
    if len(labels) != n_sl:
        raise ValueError(f"explain_left_out: {len(labels)} slot labels for {n_sl} slots")
    if idx.size and (idx.min() < 0 or idx.max() >= problem.n_customers):
        raise ValueError("explain_left_out: customer index outside the problem")
    if not idx.size:
        return []
    ok = problem.allowed[idx] & (problem.max_per_channel[idx][:, :, None] > 0)
    value = problem.value[idx].astype(np.float64)
    gross = value - problem.cost[None, :, None]
    # The capacity charge in the operand types ``_option`` multiplies in.
    budget = (plan.budget_price * problem.budget_per_attempt).astype(np.float64)
    charge = np.broadcast_to(budget[None, :, None], value.shape).copy()
    v = problem.voice_channel
    if v >= 0:
        minutes = plan.voice_minute_price[None, :] * problem.handle_minutes[idx][:, None]
        charge[:, v, :] += minutes
    net = gross - charge
    flat = ok.reshape(len(idx), -1)
    best_gross = np.where(flat, gross.reshape(len(idx), -1), -np.inf).argmax(axis=1)
    best_net = np.where(flat, net.reshape(len(idx), -1), -np.inf).argmax(axis=1)
    out: list[Explanation] = []
    for k, i in enumerate(idx.tolist()):
        if problem.max_attempts[i] == 0 or not flat[k].any():
            out.append(_not_contacted(problem, i, [], None))
            continue
        best = _option(problem, plan, i, *divmod(int(best_gross[k]), n_sl), labels)
        alt = _option(problem, plan, i, *divmod(int(best_net[k]), n_sl), labels)
        out.append(_not_contacted(problem, i, [best], alt))
    return out
