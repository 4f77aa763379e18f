"""The figures of a run report, computed from the run's tables and the ledger.

Execution is linked to the plan by the guard's idempotency key: the attempt
made for planned contact N carries the key ``plan:N``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from campaigns.campaign import Campaign
from campaigns.ledger.chain import EVENTS
from campaigns.run.capacity import model_rate
from campaigns.run.report.agents import agent_days
from campaigns.run.report.inbound import inbound_days
from campaigns.run.report.money import day_start, run_money, welch
from campaigns.run.report.owners import owner_days
from campaigns.run.stored import campaign_of, plan_key
from campaigns.storage.models import PlannedContact, Run, RunCustomer

RPC = {"conversation", "replied"}


def _reason_class(reason: str | None) -> str:
    return "contacted" if not reason else reason.split(":", 1)[0]


@dataclass(frozen=True)
class _RunTables:
    """What the report reads: the run, its plan and customers, and the ledger's attempts."""

    run: RowMapping
    planned: Sequence[RowMapping]
    customers: Sequence[RowMapping]
    attempts: dict[str, int]  # plan key -> id of the attempt made for it
    outcomes: dict[int, Any]  # attempt id -> its last outcome (outcome, duration_s)


@dataclass(frozen=True)
class _Tally:
    """What became of the planned contacts, counted per channel, slot and customer."""

    planned_per_slot: dict[str, list[int]]
    actual_per_slot: dict[str, list[int]]
    outcomes: dict[str, Counter[str]]  # channel -> outcome -> attempts
    talk_seconds: list[float]  # voice talk time per slot
    rpc_per_customer: dict[str, float]  # right-party contacts per customer id
    status: Counter[str]  # execution state of the planned contacts


def report_data(engine: Engine, run_id: int) -> dict[str, Any]:
    """Every figure the report shows, JSON-ready."""
    tables = _read_run(engine, run_id)
    run_row = dict(tables.run)
    campaign = campaign_of(Run(**run_row))  # the stored campaign text
    summary = json.loads(tables.run["summary"] or "{}")
    channels = list(summary.get("by_channel", {}))
    tally = _tally(tables, channels, campaign.slots)
    with engine.connect() as conn:
        money = run_money(conn, Run(**run_row), tables.customers)
        start = day_start(campaign, tables.run["day"])
        agents = agent_days(
            conn,
            start,
            start + dt.timedelta(days=1),
            zone=campaign.timezone,
            campaign=campaign.name,
        )
        end = start + dt.timedelta(days=1)
        owners = owner_days(conn, start, end, zone=campaign.timezone, campaign=campaign.name)
        inbound = inbound_days(
            conn,
            start,
            end,
            zone=campaign.timezone,
            customers={str(c["customer_id"]) for c in tables.customers},
        )
    return {
        "run": {k: str(v) for k, v in run_row.items() if k not in ("campaign_toml", "summary")},
        "plan": summary,
        "hours": [f"{campaign.first_hour + t:02d}:00" for t in range(campaign.slots)],
        "channels": channels,
        **_per_slot_section(campaign, tally, summary),
        **_left_out_section(tables.customers),
        **_execution_section(campaign, tally),
        **_experiment_section(tables.customers, tally),
        "money": money,
        "agents": agents,
        # one agent per customer: repeat conversations with the owner (run/report/owners.py)
        "owners": [o.as_dict() for o in owners],
        # calls from the run's customers to the company number (run/report/inbound.py)
        "inbound": [d.as_dict() for d in inbound],
    }


def _read_run(engine: Engine, run_id: int) -> _RunTables:
    """The run's rows, its plan and customers, and the attempts and outcomes of its plan."""
    with engine.connect() as conn:
        run = conn.execute(sa.select(Run.__table__).where(Run.id == run_id)).mappings().first()
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        planned = (
            conn.execute(sa.select(PlannedContact.__table__).where(PlannedContact.run_id == run_id))
            .mappings()
            .all()
        )
        customers = (
            conn.execute(sa.select(RunCustomer.__table__).where(RunCustomer.run_id == run_id))
            .mappings()
            .all()
        )
        attempts = _attempt_ids(conn, [plan_key(int(p["id"])) for p in planned])
        outcomes = _last_outcomes(conn, list(attempts.values()))
    return _RunTables(run, planned, customers, attempts, outcomes)


def _attempt_ids(conn: Connection, keys: list[str]) -> dict[str, int]:
    """The ledger id of the attempt made under each of ``keys`` (absent: not attempted)."""
    attempts: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            sa.select(EVENTS.c.id, EVENTS.c.idempotency_key).where(
                EVENTS.c.idempotency_key.in_(keys[start : start + 500])
            )
        ).all()
        attempts.update({str(k): int(i) for i, k in rows})
    return attempts


def _last_outcomes(conn: Connection, ids: list[int]) -> dict[int, Any]:
    """Each attempt's last recorded outcome (absent: still pending)."""
    outcomes: dict[int, Any] = {}
    for start in range(0, len(ids), 500):
        for row in conn.execute(
            sa.select(EVENTS.c.resolves_id, EVENTS.c.outcome, EVENTS.c.duration_s)
            .where(EVENTS.c.resolves_id.in_(ids[start : start + 500]))
            .order_by(EVENTS.c.id)
        ):
            outcomes[int(row.resolves_id)] = row  # the last outcome wins
    return outcomes


def _tally(tables: _RunTables, channels: list[str], slots: int) -> _Tally:
    """Count each planned contact: planned, attempted, its outcome, talk time, right party."""
    planned_grid = {c: [0] * slots for c in channels}
    actual_grid = {c: [0] * slots for c in channels}
    outcome_counts: dict[str, Counter[str]] = defaultdict(Counter)
    talk_seconds = [0.0] * slots
    per_customer: dict[str, float] = defaultdict(float)
    status: Counter[str] = Counter()
    for p in tables.planned:
        planned_grid[p["channel"]][p["slot"]] += 1
        attempt = tables.attempts.get(plan_key(int(p["id"])))
        if attempt is None:
            status[
                "not yet attempted" if p["status"] in ("planned", "dispatched") else p["status"]
            ] += 1
            continue
        actual_grid[p["channel"]][p["slot"]] += 1
        settled = tables.outcomes.get(attempt)
        outcome = settled.outcome if settled is not None else "pending"
        status["settled" if settled is not None else "pending"] += 1
        outcome_counts[p["channel"]][outcome] += 1
        if outcome in RPC:
            per_customer[p["customer_id"]] += 1.0
        if settled is not None and settled.duration_s and p["channel"] == "voice":
            talk_seconds[p["slot"]] += float(settled.duration_s)
    return _Tally(planned_grid, actual_grid, outcome_counts, talk_seconds, per_customer, status)


def _per_slot_section(campaign: Campaign, tally: _Tally, plan: dict[str, Any]) -> dict[str, Any]:
    """Plan against execution per hour, and the voice attempts the agents could carry each hour.

    The capacity is the one the plan counted on: the floor's measured attempts
    per agent-hour when that was lower than the staffing model's.
    """
    rate = (plan.get("voice_attempts_per_agent_hour") or {}).get("used") or model_rate(campaign)
    return {
        "planned_per_slot": tally.planned_per_slot,
        "actual_per_slot": tally.actual_per_slot,
        "voice_capacity_attempts_per_slot": [round(a * rate, 1) for a in campaign.agents.per_slot],
        "agents_per_slot": list(campaign.agents.per_slot),
    }


def _left_out_section(customers: Sequence[RowMapping]) -> dict[str, Any]:
    """Customers without a planned attempt: how many for each reason, and examples."""
    left_out = Counter(
        _reason_class(c["left_out_reason"]) for c in customers if c["planned_attempts"] == 0
    )
    return {
        "left_out": dict(left_out.most_common()),
        "left_out_examples": [
            {"customer_id": c["customer_id"], "reason": c["left_out_reason"]}
            for c in customers
            if c["planned_attempts"] == 0
        ][:25],
    }


def _execution_section(campaign: Campaign, tally: _Tally) -> dict[str, Any]:
    """How the plan was carried out: states, outcomes, abandon rate, agents' talk time."""
    voice = tally.outcomes.get("voice", Counter())
    live = voice["conversation"] + voice["abandoned"] + voice["wrong_party"]
    return {
        "execution": dict(tally.status),
        "outcomes": {c: dict(v) for c, v in tally.outcomes.items()},
        "abandon_pct": round(100 * voice["abandoned"] / live, 2) if live else None,
        "abandon_target_pct": 100 * campaign.dialer.abandon_target,
        "talk_minutes_per_agent_hour": [
            round(s / 60 / a, 1) if a else 0.0
            for s, a in zip(tally.talk_seconds, campaign.agents.per_slot, strict=True)
        ],
    }


def _experiment_section(customers: Sequence[RowMapping], tally: _Tally) -> dict[str, Any]:
    """The uplift of the optimised arm in right-party contacts per customer, and arm sizes."""
    arms: dict[str, list[float]] = defaultdict(list)
    for c in customers:
        if c["arm"] in ("optimised", "challenger", "holdout"):
            arms[c["arm"]].append(tally.rpc_per_customer.get(c["customer_id"], 0.0))
    # The uplift reads every arm before the sizes are counted, so an empty arm
    # is reported with size 0 rather than missing.
    uplift = {
        "vs_challenger": welch(arms["optimised"], arms["challenger"]),
        "vs_holdout": welch(arms["optimised"], arms["holdout"]),
    }
    return {
        "uplift_rpc_per_customer": uplift,
        "arms": {a: len(v) for a, v in arms.items()},
    }
