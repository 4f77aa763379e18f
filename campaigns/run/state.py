"""The run as a persisted state machine: every step idempotent, every crash resumable.

    planning → planned → [awaiting_approval →] approved → dispatching → executing → closed

A run not yet dispatched may instead be ``cancelled`` (final: nothing of its
plan is ever sent, and its campaign-day keeps that run).

A step commits its work and the next state in one transaction, so a run killed
anywhere restarts from the last committed state and redoes at most one step,
which is written to be safe to redo (planning replaces its own rows; dispatch
skips what is already dispatched).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaigns.campaign import Campaign, load_campaign
from campaigns.run.stored import campaign_of
from campaigns.storage.models import PlannedContact, Run, RunCustomer

STATES = (
    "planning",
    "planned",
    "awaiting_approval",
    "approved",
    "dispatching",
    "executing",
    "closed",
    "cancelled",
)
# The states a run rests in for good: ``advance`` does nothing more with it.
FINAL_STATES = ("closed", "cancelled")
# Before dispatch nothing of the plan is on a queue, so a cancel withdraws it all.
CANCELLABLE = ("planning", "planned", "awaiting_approval", "approved")


class RunError(RuntimeError):
    """A run cannot proceed; the message says why and what to do."""


@dataclass(frozen=True)
class RunStatus:
    """A run's state and progress, for ``cadencia run status``."""

    run_id: int
    campaign: str
    day: dt.date
    state: str
    summary: dict[str, Any]
    planned_by_status: dict[str, int]
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**self.__dict__, "day": self.day.isoformat()}


def create_run(
    engine: Engine, campaign_path: Path, day: dt.date, *, needs_approval: bool, now: dt.datetime
) -> int:
    """A new run of the campaign for ``day``, or the existing one (one run per campaign-day)."""
    campaign = load_campaign(campaign_path)
    text = campaign_path.read_text(encoding="utf-8")
    with engine.begin() as conn:
        existing = conn.execute(
            sa.select(Run.id).where(Run.campaign == campaign.name, Run.day == day)
        ).scalar()
        if existing is not None:
            return int(existing)
        result = conn.execute(
            sa.insert(Run).values(
                campaign=campaign.name,
                day=day,
                campaign_toml=text,
                state="planning",
                needs_approval=needs_approval,
                created_at=now,
                updated_at=now,
                summary="{}",
                error=None,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def _set_state(
    conn: sa.Connection,
    run_id: int,
    state: str,
    now: dt.datetime,
    summary: dict[str, Any] | None = None,
) -> None:
    values: dict[str, Any] = {"state": state, "updated_at": now, "error": None}
    if summary is not None:
        values["summary"] = json.dumps(summary)
    conn.execute(sa.update(Run).where(Run.id == run_id).values(**values))


def _load(engine: Engine, run_id: int) -> Run:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Run, run_id)
    if row is None:
        raise RunError(f"run {run_id} does not exist")
    return row


Step = Callable[[Engine, Run, Campaign, dt.datetime], str | None]


def advance(
    engine: Engine,
    run_id: int,
    *,
    now: dt.datetime,
    dispatch: Step | None = None,
    stop_at: str | None = None,
) -> str:
    """Carry run ``run_id`` forward from its stored state as far as it can go.

    Stops at ``awaiting_approval`` (until ``approve``), at ``stop_at``, or when
    a step has nothing more to do now. ``dispatch`` schedules the plan's jobs
    and returns the next state (the composition root passes it in).
    """
    from campaigns.payments.promises import settle_promises
    from campaigns.run.planning import plan_run

    while True:
        run = _load(engine, run_id)
        if run.state == stop_at or run.state == "awaiting_approval" or run.state in FINAL_STATES:
            return run.state
        campaign = campaign_of(run)
        if run.state == "planning":
            with engine.begin() as conn:
                # Promises whose grace period has ended are settled first, so a
                # broken one gets its follow-up in this plan.
                settle_promises(conn, now=now)
                summary = plan_run(conn, run.id, campaign, run.day)
                _set_state(conn, run.id, "planned", now, summary.as_dict())
        elif run.state == "planned":
            with engine.begin() as conn:
                _set_state(
                    conn, run.id, "awaiting_approval" if run.needs_approval else "approved", now
                )
        elif run.state in ("approved", "dispatching", "executing"):
            if dispatch is None:
                return run.state
            following = dispatch(engine, run, campaign, now)
            if following is None or following == run.state:
                return run.state
            with engine.begin() as conn:
                _set_state(conn, run.id, following, now)
        else:
            raise RunError(f"run {run_id} is in unknown state {run.state!r}")


def approve(engine: Engine, run_id: int, *, now: dt.datetime) -> None:
    """Release a plan that waits for a manager's approval."""
    run = _load(engine, run_id)
    if run.state != "awaiting_approval":
        raise RunError(f"run {run_id} is {run.state}, not awaiting approval")
    with engine.begin() as conn:
        _set_state(conn, run_id, "approved", now)


def cancel(engine: Engine, run_id: int, *, now: dt.datetime) -> None:
    """Withdraw a run before dispatch; its planned contacts are never sent.

    A dispatched run has jobs on the queues already; it cannot be cancelled
    here (its day closes as usual).
    """
    run = _load(engine, run_id)
    if run.state not in CANCELLABLE:
        raise RunError(
            f"run {run_id} is {run.state}: only a run not yet dispatched "
            f"({', '.join(CANCELLABLE)}) can be cancelled"
        )
    with engine.begin() as conn:
        # Conditional on the state read, so a dispatch that won the race is not undone.
        done = conn.execute(
            sa.update(Run)
            .where(Run.id == run_id, Run.state == run.state)
            .values(state="cancelled", updated_at=now, error=None)
        )
        if done.rowcount != 1:
            raise RunError(f"run {run_id} changed state meanwhile: reload and try again")
        conn.execute(
            sa.update(PlannedContact)
            .where(PlannedContact.run_id == run_id, PlannedContact.status == "planned")
            .values(status="dropped", reason="cancelled: the run was cancelled before dispatch")
        )


def status(engine: Engine, run_id: int) -> RunStatus:
    """The run's state, plan summary and progress of its planned contacts."""
    run = _load(engine, run_id)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(PlannedContact.status, sa.func.count())
                .where(PlannedContact.run_id == run_id)
                .group_by(PlannedContact.status)
            ).all()
        )
        left_out = conn.execute(
            sa.select(sa.func.count())
            .select_from(RunCustomer)
            .where(RunCustomer.run_id == run_id, RunCustomer.planned_attempts == 0)
        ).scalar_one()
    summary = json.loads(run.summary or "{}")
    summary["left_out_customers"] = int(left_out)
    return RunStatus(
        run.id,
        run.campaign,
        run.day,
        run.state,
        summary,
        {str(k): int(v) for k, v in counts.items()},
        run.error,
    )
