"""Planning a campaign's day: allowances → value → optimizer → a persisted plan.

Follows the shape of a solver script, one named step each (``plan_run`` reads
as the list): data (``_load_data``), hard constraints (``_limits``: compliance
allowances, reach, shared caps), objective (``_values``: value minus cost),
variables (``_problem``: the Problem's arrays per arm, with capacity and
budgets), solve (``_solve_arms``), report (``_planned_contacts``,
``_left_out_reasons``, ``_store``, ``_summary``). The optimised arm gets the
optimizer's plan, the challenger arm the vendor-style rule strategy, the
holdout nothing, so the uplift is measured rather than assumed.

The steps pass per-customer arrays aligned on one customer order (``ids``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from campaigns.campaign import Campaign
from campaigns.payments.listing import payment_instants
from campaigns.payments.promises import broken_since, promise_fates
from campaigns.reach import usable_channels
from campaigns.run.callback_holds import callbacks_in_day
from campaigns.run.capacity import VoiceRate, voice_rate
from campaigns.run.claims import Dedupe, dedupe, drop_taken, other_plans
from campaigns.run.inputs import (
    CampaignSlice,
    arm_of,
    histories,
    history_since,
    hour_offsets,
    load_slice,
    outcome_counts,
    slot_starts,
)
from campaigns.run.learning import Departed, departed_payers
from campaigns.run.model import priors_of
from campaigns.run.preferences import (
    DayPreferences,
    channel_weights,
    hours_reason,
    inside_hours,
    load_preferences,
)
from campaigns.storage.bulk import insert_rows
from campaigns.storage.models import PlannedContact, RunCustomer
from compliance import Event, allowances
from compliance.frames import events_frame
from optimizer import Params, Plan, Problem, solve
from optimizer.baselines import rule_baseline
from optimizer.explain import explain_left_out
from optimizer.value import (
    AmountModel,
    History,
    Rates,
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
    follow_ups: int = 0  # customers planned as follow-ups of a broken promise
    # Voice attempts per agent-hour: the staffing model's, measured on recent days, used.
    voice_attempts_per_agent_hour: dict[str, float | str | None] | None = None
    # One plan per customer a day: customers left to, and taken from, other campaigns' runs.
    one_plan_a_day: dict[str, object] | None = None
    callbacks_today: int = 0  # customers left out: a callback they asked for is today's contact
    # Customers who chose a channel and hours on the portal, and those whose hours no slot meets.
    preferences: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return self.__dict__.copy()


@dataclass(frozen=True)
class _PlanningData:
    """The day's data: the campaign's customers, their ledger history, slots and channels."""

    channels: tuple[str, ...]  # the campaign's enabled channels, in the optimizer's order
    sliced: CampaignSlice
    ids: list[str]  # customer ids, in the order of every per-customer array below
    slots: list[dt.datetime]  # UTC start of each hour slot
    events: list[Event]  # ledger history before the first slot
    # Share of each promise paid (None while pending), by (customer, instant taken).
    promise_fates: dict[tuple[str, dt.datetime], float | None]
    payments: dict[str, list[dt.datetime]]  # when each customer paid, since the history began
    follow_up: np.ndarray  # bool [N]: a promise broken within the campaign's follow-up days
    voice_rate: VoiceRate  # voice attempts per agent-hour: modelled, measured, used
    departed: Departed  # payers who left the slice: learned from, not planned
    dedupe: Dedupe  # customers other campaigns' plans keep today, and those taken from them
    called_back: dict[str, str]  # customers with a callback today: why they are left out
    preferences: DayPreferences  # the channel and local hours customers chose on the portal
    slot_hour: np.ndarray  # int64 [T]: the campaign's hour of each slot
    hour_offset: np.ndarray  # int64 [N]: each customer's local hour minus the campaign's

    @property
    def frame(self) -> pd.DataFrame:
        """One row per planned customer (``ids`` order)."""
        return self.sliced.customers


@dataclass(frozen=True)
class _Limits:
    """The hard constraints per customer: what compliance and reach allow today."""

    slot_allowed: np.ndarray  # bool [N, C, T]: compliance allows the slot and the channel reaches
    remaining: np.ndarray  # [N, C] attempts left per channel
    total_cap: np.ndarray  # int64 [N] attempts left over all channels together
    reachable: np.ndarray  # bool [N, C] a usable contact point on file
    problems: tuple[str, ...]  # data that made customers fail closed
    outside_chosen_hours: np.ndarray  # int64: customers whose chosen hours no open slot meets


@dataclass(frozen=True)
class _Values:
    """The objective's coefficients: expected net value per customer × channel × slot."""

    value: np.ndarray  # [N, C, T]
    amount: np.ndarray  # [N] expected amount collected from a right-party contact


@dataclass(frozen=True)
class _ArmPlan:
    """One arm of the experiment: its members, the problem they form and its plan."""

    arm: str  # optimised | challenger
    members: np.ndarray  # int64 indices into the day's customers
    problem: Problem
    plan: Plan


@dataclass(frozen=True)
class _PlannedContacts:
    """The plan's rows for ``planned_contacts`` and the attempts planned per customer."""

    rows: list[dict[str, Any]]
    per_customer: np.ndarray  # int64 [N]


def plan_run(
    conn: Connection, run_id: int, campaign: Campaign, day: dt.date, *, params: Params | None = None
) -> PlanSummary:
    """Compute and store the plan of run ``run_id`` (idempotent: replaces its plan rows)."""
    started = time.perf_counter()
    data = _load_data(conn, campaign, day)
    limits = _limits(conn, data, day)
    values = _values(campaign, day, data)
    arms = _assign_arms(campaign, data.ids)
    arm_plans = _solve_arms(campaign, data, limits, values, arms, params)
    planned = _planned_contacts(run_id, data, values, arm_plans)
    reasons = _left_out_reasons(data, limits, arms, arm_plans, planned.per_customer)
    _store(conn, run_id, data, values, arms, planned, reasons)
    drop_taken(conn, campaign, run_id, data.dedupe)
    return _summary(campaign, data, limits, arm_plans, planned, started)


def _load_data(conn: Connection, campaign: Campaign, day: dt.date) -> _PlanningData:
    """Data: the campaign's customers, the day's slots, and the ledger history they need."""
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
    since = history_since(list(frame["packs"]), slots[0])
    departed = departed_payers(conn, campaign.name, set(ids), since, slots[0])
    wanted = set(ids) | departed.ids
    fates = promise_fates(conn, wanted, since)
    paid = payment_instants(conn, wanted, since)
    follow_days = dt.timedelta(days=campaign.collections.follow_up_days)
    broken = broken_since(conn, set(ids), slots[0] - follow_days) if follow_days else set()
    follow_up = np.array([cid in broken for cid in ids], dtype=bool)
    rate = voice_rate(conn, campaign, day)
    shared = dedupe(campaign, ids, other_plans(conn, campaign, day))
    day_end = slots[-1] + dt.timedelta(hours=1)
    called_back = callbacks_in_day(conn, ids, slots[0], day_end, campaign.timezone)
    preferences = load_preferences(conn, ids, channels)
    slot_hour = np.arange(campaign.first_hour, campaign.first_hour + campaign.slots)
    offsets = hour_offsets(list(frame["timezones"]), campaign, day)
    return _PlanningData(
        channels, sliced, ids, slots, events, fates, paid, follow_up, rate, departed, shared,
        called_back, preferences, slot_hour, offsets,
    )  # fmt: skip


def _limits(conn: Connection, data: _PlanningData, day: dt.date) -> _Limits:
    """Constraints: compliance allowances, usable contact points and shared caps."""
    frame, ids, channels = data.frame, data.ids, data.channels
    customers_frame = frame[["customer_id", "packs"]].assign(
        timezones=frame["timezones"].str.replace(";", ",", regex=False)
    )
    ev, ev_debts = events_frame(data.events)
    allow = allowances(
        customers_frame, ev, day, data.slots, event_debts=ev_debts, channels=channels
    )
    # A channel without a usable contact point (none on file, opted out, a wrong
    # number, a landline for texts) is closed for the day: planning it would
    # spend the debtor's attempt cap and the channel's budget on a contact the
    # workers can only drop, instead of on a channel that reaches them.
    reach = usable_channels(conn, ids, channels)
    reachable = np.zeros((len(ids), len(channels)), dtype=bool)
    for g, cid in enumerate(ids):
        reachable[g] = [c in reach[cid] for c in channels]
    # Shared caps (e.g. Ley 2300's one contact a day on any channel) bound the total.
    total_cap = np.full(len(frame), MAX_ATTEMPTS_PER_DAY, np.int64)
    for cap in allow.shared_caps:
        total_cap = np.minimum(total_cap, cap.remaining)
    # A customer another campaign's plan keeps today gets nothing here.
    kept_elsewhere = [g for g, cid in enumerate(ids) if cid in data.dedupe.left_to]
    total_cap[kept_elsewhere] = 0
    # Nor a customer who asked for a callback today: that call is their contact.
    if data.called_back:
        total_cap[[g for g, cid in enumerate(ids) if cid in data.called_back]] = 0
    open_slots = allow.slot_allowed & reachable[:, :, None]
    # The hours a customer chose bind every channel (campaigns.run.preferences).
    inside = inside_hours(data.preferences, data.slot_hour, data.hour_offset)
    chosen = open_slots & inside[:, None, :]
    outside = np.flatnonzero(open_slots.any(axis=(1, 2)) & ~chosen.any(axis=(1, 2)))
    return _Limits(
        slot_allowed=chosen,
        remaining=allow.remaining,
        total_cap=total_cap,
        reachable=reachable,
        problems=allow.problems,
        outside_chosen_hours=outside,
    )


def _values(campaign: Campaign, day: dt.date, data: _PlanningData) -> _Values:
    """Objective: each attempt's expected value from learned rates and the amount owed."""
    frame = data.frame
    segments = sorted(set(frame["segment"])) or ["unknown"]
    segment_index = np.array([segments.index(s) for s in frame["segment"]], np.int64)
    rates = _learned_rates(campaign, data, segments, segment_index)
    amount = expected_amount(
        frame["balance"].to_numpy(),
        frame["minimum_due"].to_numpy(),
        frame["days_past_due"].to_numpy(np.int64),
        AmountModel(),
    )
    value = value_array(rates, segment_index, amount, data.slot_hour, data.hour_offset)
    # A broken promise calls for a follow-up: the customer is worth more to
    # reach today than the rates alone say (``[collections]`` in the campaign).
    boost = np.where(data.follow_up, campaign.collections.broken_promise_boost, 1.0)
    value *= boost[:, None, None].astype(value.dtype)
    # A channel the customer chose is worth more, the others less ([preferences]).
    if data.preferences.count:
        weights = channel_weights(data.preferences, len(data.channels), campaign.preferences)
        value *= weights[:, :, None]
    return _Values(value, amount)


def _learned_rates(
    campaign: Campaign, data: _PlanningData, segments: list[str], segment_index: np.ndarray
) -> Rates:
    """Contact and promise rates per segment × channel, the ledger's counts over the priors.

    Learned from today's customers and from the payers who left the slice
    (``campaigns.run.learning``), so paying does not hide what led to it.
    """
    position = {s: k for k, s in enumerate(segments)}
    segment_of = {c: position[s] for c, s in data.departed.segment.items() if s in position}
    segment_of.update(zip(data.ids, segment_index.tolist(), strict=True))
    zone_of = dict(data.departed.zone)
    zone_of.update(zip(data.ids, data.frame["timezones"].str.split(";").str[0], strict=True))
    counts = outcome_counts(
        [*data.events, *data.departed.events],
        segment_of,
        zone_of,
        data.channels,
        len(segments),
        data.promise_fates,
        data.payments,
        dt.timedelta(days=campaign.collections.attribution_days),
    )
    priors = priors_of(campaign, data.channels)
    # Money per contact is learned from the payments that followed contacts
    # (promised or not); kept promises come from the payments recorded
    # against them, and promises still in their grace period count neither way.
    history = History(
        counts.attempts,
        counts.rpc,
        counts.promises,
        counts.paid,
        counts.settled,
        counts.paid_contacts,
    )
    return estimate_rates(history, priors)


def _assign_arms(campaign: Campaign, ids: list[str]) -> np.ndarray:
    """Each customer's arm of the experiment (optimised, challenger or holdout)."""
    exp = campaign.experiment
    return np.array([arm_of(c, exp.seed, exp.challenger_share, exp.holdout_share) for c in ids])


def _solve_arms(
    campaign: Campaign,
    data: _PlanningData,
    limits: _Limits,
    values: _Values,
    arms: np.ndarray,
    params: Params | None,
) -> list[_ArmPlan]:
    """Solve: the optimizer plans the optimised arm, the rule strategy the challenger arm.

    Each arm gets the share of agents and budgets its size warrants, so the arms
    compete on equal terms; the holdout is not planned.
    """
    arm_plans: list[_ArmPlan] = []
    for arm in ("optimised", "challenger"):
        members = np.flatnonzero(arms == arm)
        if members.size == 0:
            continue
        share = members.size / max(1, int((arms != "holdout").sum()))
        problem = _problem(campaign, data, limits, values, members, share)
        plan: Plan = (
            solve(problem, params)
            if arm == "optimised"
            else rule_baseline(problem, params, balance=data.frame["balance"].to_numpy()[members])
        )
        arm_plans.append(_ArmPlan(arm, members, problem, plan))
    return arm_plans


def _problem(
    campaign: Campaign,
    data: _PlanningData,
    limits: _Limits,
    values: _Values,
    members: np.ndarray,
    share: float,
) -> Problem:
    """Variables and constraints of one arm: the optimizer's arrays for its ``members``."""
    channels = data.channels
    ch = [campaign.channels[c] for c in channels]
    voice = channels.index("voice") if "voice" in channels else -1
    agents = campaign.agents
    # Agent minutes one voice attempt takes: by the staffing model, predictive
    # dialing spends agent time only on live answers (talk + wrap); when the
    # floor carried fewer attempts per agent-hour on recent days, that rate is
    # what the plan can count on (campaigns.run.capacity).
    minutes = 60.0 * agents.occupancy / data.voice_rate.used
    handle = np.full(members.size, minutes, np.float32)
    return Problem(
        value=np.ascontiguousarray(values.value[members], dtype=np.float32),
        allowed=np.ascontiguousarray(limits.slot_allowed[members]),
        max_attempts=np.minimum(limits.total_cap[members], MAX_ATTEMPTS_PER_DAY).astype(np.uint8),
        max_per_channel=np.clip(limits.remaining[members], 0, 255).astype(np.uint8),
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


def _planned_contacts(
    run_id: int, data: _PlanningData, values: _Values, arm_plans: list[_ArmPlan]
) -> _PlannedContacts:
    """Report: the arms' plans as ``planned_contacts`` rows, in plan order (their ids follow it)."""
    rows: list[dict[str, Any]] = []
    per_customer = np.zeros(len(data.ids), np.int64)
    for solved in arm_plans:
        plan = solved.plan
        for i, c, t, r in zip(plan.customer, plan.channel, plan.slot, plan.rank, strict=True):
            g = int(solved.members[i])
            per_customer[g] += 1
            rows.append(
                {
                    "run_id": run_id,
                    "customer_id": data.ids[g],
                    "channel": data.channels[c],
                    "slot": int(t),
                    "slot_start": data.slots[int(t)],
                    "rank": int(r),
                    "value": float(values.value[g, c, t]),
                    "arm": solved.arm,
                    "status": "planned",
                }
            )
    return _PlannedContacts(rows, per_customer)


def _left_out_reasons(
    data: _PlanningData,
    limits: _Limits,
    arms: np.ndarray,
    arm_plans: list[_ArmPlan],
    planned: np.ndarray,
) -> dict[str, str]:
    """Why each customer without a planned attempt was left out, by customer id.

    Later reasons override earlier ones: an unreachable customer is reported as
    unreachable rather than with the optimizer's explanation.
    """
    ids = data.ids
    reasons: dict[str, str] = {}
    for solved in arm_plans:
        left = np.flatnonzero(planned[solved.members] == 0)
        explained = explain_left_out(solved.problem, solved.plan, left)
        for local, explanation in zip(left.tolist(), explained, strict=True):
            reasons[ids[int(solved.members[local])]] = (
                f"{explanation.reason}: {explanation.summary}"
            )
    for g in limits.outside_chosen_hours:
        if planned[g] == 0:
            reasons[ids[int(g)]] = hours_reason(data.preferences, int(g))
    for lost in np.flatnonzero(~limits.reachable.any(axis=1)):
        if arms[lost] != "holdout":
            reasons[ids[int(lost)]] = (
                "unreachable: no usable contact point for "
                + ", ".join(data.channels)
                + " (none on file, opted out, wrong number, or a landline for texts)"
            )
    for customer in data.dedupe.left_to:
        reasons[customer] = data.dedupe.reason(customer)
    reasons.update(data.called_back)
    for held in np.flatnonzero(arms == "holdout"):
        reasons[ids[int(held)]] = "holdout: kept uncontacted to measure uplift"
    return reasons


def _store(
    conn: Connection,
    run_id: int,
    data: _PlanningData,
    values: _Values,
    arms: np.ndarray,
    planned: _PlannedContacts,
    reasons: dict[str, str],
) -> None:
    """Persist: replace the run's planned contacts and its customers (with why left out)."""
    conn.execute(sa.delete(PlannedContact).where(PlannedContact.run_id == run_id))
    conn.execute(sa.delete(RunCustomer).where(RunCustomer.run_id == run_id))
    insert_rows(conn, PlannedContact.__table__, planned.rows)  # type: ignore[arg-type]
    segment = data.frame["segment"]
    customer_rows = [
        {
            "run_id": run_id,
            "customer_id": cid,
            "arm": str(arms[g]),
            "segment": str(segment[g]),
            "expected_amount": float(values.amount[g]),
            "planned_attempts": int(planned.per_customer[g]),
            "left_out_reason": reasons.get(cid),
        }
        for g, cid in enumerate(data.ids)
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
        for cid, why in data.sliced.excluded.items()
    ]
    insert_rows(conn, RunCustomer.__table__, customer_rows)  # type: ignore[arg-type]


def _summary(
    campaign: Campaign,
    data: _PlanningData,
    limits: _Limits,
    arm_plans: list[_ArmPlan],
    planned: _PlannedContacts,
    started: float,
) -> PlanSummary:
    """The plan review's figures; the optimised arm's bound and shadow prices (zero without it)."""
    channels, rows = data.channels, planned.rows
    objective = upper = 0.0
    voice_price = np.zeros(campaign.slots)
    budget_price = np.zeros(len(channels))
    for solved in arm_plans:
        if solved.arm == "optimised":
            plan = solved.plan
            objective, upper = plan.objective, plan.upper_bound
            voice_price, budget_price = plan.voice_minute_price, plan.budget_price
    by_channel = {c: sum(1 for r in rows if r["channel"] == c) for c in channels}
    by_arm = {a: sum(1 for r in rows if r["arm"] == a) for a in ("optimised", "challenger")}
    return PlanSummary(
        customers=len(data.ids),
        planned_attempts=len(rows),
        by_channel=by_channel,
        by_arm=by_arm,
        objective=round(objective, 2),
        upper_bound=round(upper, 2),
        gap_pct=round(100 * (upper - objective) / max(abs(upper), 1e-9), 4),
        voice_minute_price=[round(float(p), 4) for p in voice_price],
        budget_price={c: round(float(p), 4) for c, p in zip(channels, budget_price, strict=True)},
        excluded=len(data.sliced.excluded),
        compliance_problems=list(limits.problems[:20]),
        seconds=round(time.perf_counter() - started, 3),
        follow_ups=int(data.follow_up.sum()),
        voice_attempts_per_agent_hour=data.voice_rate.as_dict(),
        one_plan_a_day=data.dedupe.as_dict(),
        callbacks_today=len(data.called_back),
        preferences={
            "chose": data.preferences.count,
            "outside_chosen_hours": int(limits.outside_chosen_hours.size),
        },
    )


def summary_json(summary: PlanSummary) -> str:
    """The summary as stored on the run row."""
    return json.dumps(summary.as_dict())
