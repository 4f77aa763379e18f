"""Planning a campaign's day: allowances → value → optimizer → a persisted plan.

Follows the shape of a solver script: data, variables (the Problem's arrays),
hard constraints (compliance allowances, capacity, budgets), objective (value
minus cost), solve, report. The optimised arm gets the optimizer's plan, the
challenger arm the vendor-style rule strategy, the holdout nothing, so the
uplift is measured rather than assumed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign
from campaigns.reach import usable_channels
from campaigns.run.inputs import (
    CampaignSlice,
    arm_of,
    histories,
    hour_offsets,
    load_slice,
    outcome_counts,
    slot_starts,
)
from campaigns.run.model import priors_of
from campaigns.storage.models import PlannedContact, RunCustomer
from compliance import allowances
from compliance.frames import events_frame
from optimizer import Params, Plan, Problem, solve
from optimizer.baselines import rule_baseline
from optimizer.explain import explain
from optimizer.value import (
    AmountModel,
    History,
    estimate_rates,
    expected_amount,
    value_array,
)

MAX_ATTEMPTS_PER_DAY = 3  # house ceiling; compliance packs may allow fewer


@dataclass(frozen=True)
class PlanSummary:
    """What the plan review shows before dispatch."""

    customers: int
    planned_attempts: int
    by_channel: dict[str, int]
    by_arm: dict[str, int]
    objective: float
    upper_bound: float
    gap_pct: float
    voice_minute_price: list[float]
    budget_price: dict[str, float]
    excluded: int
    compliance_problems: list[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return self.__dict__.copy()


def _problem(
    campaign: Campaign,
    frame: Any,
    allowed_slots: np.ndarray,
    remaining: np.ndarray,
    value: np.ndarray,
    channels: tuple[str, ...],
    share: float,
    total_cap: np.ndarray,
) -> Problem:
    ch = [campaign.channels[c] for c in channels]
    voice = channels.index("voice") if "voice" in channels else -1
    agents = campaign.agents
    rpc_voice = campaign.priors.right_party_rate.get("voice", 0.25)
    # Predictive dialing spends agent time only on live answers: talk + wrap.
    handle = np.full(
        len(frame), (agents.talk_minutes + agents.wrap_minutes) * rpc_voice, np.float32
    )
    return Problem(
        value=np.ascontiguousarray(value, dtype=np.float32),
        allowed=np.ascontiguousarray(allowed_slots),
        max_attempts=np.minimum(total_cap, MAX_ATTEMPTS_PER_DAY).astype(np.uint8),
        max_per_channel=np.clip(remaining, 0, 255).astype(np.uint8),
        handle_minutes=handle,
        cost=np.array([c.cost for c in ch], np.float64),
        agents=np.array(agents.per_slot, np.float64) * share,
        budget=np.array([np.inf if c.daily_budget is None else c.daily_budget * share for c in ch]),
        budget_per_attempt=np.ones(len(ch)),
        voice_channel=voice,
        occupancy=agents.occupancy,
        slot_minutes=60.0,
        channel_names=channels,
    )


def plan_run(
    conn: Connection, run_id: int, campaign: Campaign, day: dt.date, *, params: Params | None = None
) -> PlanSummary:
    """Compute and store the plan of run ``run_id`` (idempotent: replaces its plan rows)."""
    started = time.perf_counter()
    channels: tuple[str, ...] = tuple(
        c
        for c in ("voice", "sms", "whatsapp", "email")
        if c in campaign.channels and campaign.channels[c].enabled
    )
    sliced: CampaignSlice = load_slice(conn, campaign)
    frame = sliced.customers
    slots = slot_starts(campaign, day)
    ids = [str(c) for c in frame["customer_id"]]
    events = histories(conn, ids, list(frame["packs"]), slots[0])
    customers_frame = frame[["customer_id", "packs"]].assign(
        timezones=frame["timezones"].str.replace(";", ",", regex=False)
    )
    ev, ev_debts = events_frame(events)
    allow = allowances(customers_frame, ev, day, slots, event_debts=ev_debts, channels=channels)
    # A channel without a usable contact point (none on file, opted out, a wrong
    # number, a landline for texts) is closed for the day: planning it would
    # spend the debtor's attempt cap and the channel's budget on a contact the
    # workers can only drop, instead of on a channel that reaches them.
    reach = usable_channels(conn, ids, channels)
    reachable = np.zeros((len(ids), len(channels)), dtype=bool)
    for g, cid in enumerate(ids):
        reachable[g] = [c in reach[cid] for c in channels]
    slot_allowed = allow.slot_allowed & reachable[:, :, None]
    # Shared caps (e.g. Ley 2300's one contact a day on any channel) bound the total.
    total_cap = np.full(len(frame), MAX_ATTEMPTS_PER_DAY, np.int64)
    for cap in allow.shared_caps:
        total_cap = np.minimum(total_cap, cap.remaining)

    segments = sorted(set(frame["segment"])) or ["unknown"]
    segment_index = np.array([segments.index(s) for s in frame["segment"]], np.int64)
    attempts, rpc, promises = outcome_counts(
        events,
        dict(zip(ids, segment_index.tolist(), strict=True)),
        dict(zip(ids, frame["timezones"].str.split(";").str[0], strict=True)),
        channels,
        len(segments),
    )
    priors = priors_of(campaign, channels)
    # Payments are not in the ledger yet (the bank's file shows them as lower
    # balances): until they are, the kept-promise rate stays at its prior.
    history = History(attempts, rpc, promises, np.zeros_like(promises))
    rates = estimate_rates(history, priors)
    amount = expected_amount(
        frame["balance"].to_numpy(),
        frame["minimum_due"].to_numpy(),
        frame["days_past_due"].to_numpy(np.int64),
        AmountModel(),
    )
    slot_hour = np.arange(campaign.first_hour, campaign.first_hour + campaign.slots)
    value = value_array(
        rates,
        segment_index,
        amount,
        slot_hour,
        hour_offsets(list(frame["timezones"]), campaign, day),
    )

    exp = campaign.experiment
    arms = np.array([arm_of(c, exp.seed, exp.challenger_share, exp.holdout_share) for c in ids])
    conn.execute(sa.delete(PlannedContact).where(PlannedContact.run_id == run_id))
    conn.execute(sa.delete(RunCustomer).where(RunCustomer.run_id == run_id))
    rows: list[dict[str, Any]] = []
    reasons: dict[str, str] = {}
    planned = np.zeros(len(ids), np.int64)
    objective = upper = 0.0
    voice_price = np.zeros(campaign.slots)
    budget_price = np.zeros(len(channels))
    for arm in ("optimised", "challenger"):
        members = np.flatnonzero(arms == arm)
        if members.size == 0:
            continue
        share = members.size / max(1, int((arms != "holdout").sum()))
        problem = _problem(
            campaign,
            frame.iloc[members],
            slot_allowed[members],
            allow.remaining[members],
            value[members],
            channels,
            share,
            total_cap[members],
        )
        plan: Plan = (
            solve(problem, params)
            if arm == "optimised"
            else rule_baseline(problem, params, balance=frame["balance"].to_numpy()[members])
        )
        if arm == "optimised":
            objective, upper = plan.objective, plan.upper_bound
            voice_price, budget_price = plan.voice_minute_price, plan.budget_price
        for i, c, t, r in zip(plan.customer, plan.channel, plan.slot, plan.rank, strict=True):
            g = int(members[i])
            planned[g] += 1
            rows.append(
                {
                    "run_id": run_id,
                    "customer_id": ids[g],
                    "channel": channels[c],
                    "slot": int(t),
                    "slot_start": slots[int(t)],
                    "rank": int(r),
                    "value": float(value[g, c, t]),
                    "arm": arm,
                    "status": "planned",
                }
            )
        for local in np.flatnonzero(planned[members] == 0):
            explanation = explain(problem, plan, int(local))
            reasons[ids[int(members[local])]] = f"{explanation.reason}: {explanation.summary}"
    for lost in np.flatnonzero(~reachable.any(axis=1)):
        if arms[lost] != "holdout":
            reasons[ids[int(lost)]] = (
                "unreachable: no usable contact point for "
                + ", ".join(channels)
                + " (none on file, opted out, wrong number, or a landline for texts)"
            )
    for held in np.flatnonzero(arms == "holdout"):
        reasons[ids[int(held)]] = "holdout: kept uncontacted to measure uplift"
    if rows:
        conn.execute(sa.insert(PlannedContact), rows)
    customer_rows = [
        {
            "run_id": run_id,
            "customer_id": cid,
            "arm": str(arms[g]),
            "segment": str(frame["segment"][g]),
            "expected_amount": float(amount[g]),
            "planned_attempts": int(planned[g]),
            "left_out_reason": reasons.get(cid),
        }
        for g, cid in enumerate(ids)
    ] + [
        {
            "run_id": run_id,
            "customer_id": cid,
            "arm": "excluded",
            "segment": "",
            "expected_amount": 0.0,
            "planned_attempts": 0,
            "left_out_reason": why,
        }
        for cid, why in sliced.excluded.items()
    ]
    if customer_rows:
        conn.execute(sa.insert(RunCustomer), customer_rows)
    by_channel = {c: sum(1 for r in rows if r["channel"] == c) for c in channels}
    by_arm = {a: sum(1 for r in rows if r["arm"] == a) for a in ("optimised", "challenger")}
    return PlanSummary(
        customers=len(ids),
        planned_attempts=len(rows),
        by_channel=by_channel,
        by_arm=by_arm,
        objective=round(objective, 2),
        upper_bound=round(upper, 2),
        gap_pct=round(100 * (upper - objective) / max(abs(upper), 1e-9), 4),
        voice_minute_price=[round(float(p), 4) for p in voice_price],
        budget_price={c: round(float(p), 4) for c, p in zip(channels, budget_price, strict=True)},
        excluded=len(sliced.excluded),
        compliance_problems=list(allow.problems[:20]),
        seconds=round(time.perf_counter() - started, 3),
    )


def summary_json(summary: PlanSummary) -> str:
    """The summary as stored on the run row."""
    return json.dumps(summary.as_dict())
