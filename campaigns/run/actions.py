"""What a person may do to a run from a screen, done by ``campaigns.run.state`` and recorded.

The console's buttons map onto the very functions ``cadencia run`` calls:

- ``approve``: ``approve`` then ``advance`` with dispatch (``cadencia run approve``);
- ``launch``: ``advance`` with dispatch, for a plan approved but not yet sent;
- ``resume``: ``advance`` with dispatch, for a run stopped midway (``cadencia run --resume``);
- ``cancel``: ``cancel``, before anything of the plan is dispatched (``cadencia run cancel``).

Every press is written to ``run_actions`` with who pressed it, the state
before and after, and the error if the core refused, so a manager's decision
about a day's plan can be traced like a contact in the ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.run.state import CANCELLABLE, RunError, Step, advance, approve, cancel
from campaigns.storage.models import Run, RunAction

# The actions a run's state allows, in the order the buttons appear.
ALLOWED: dict[str, tuple[str, ...]] = {
    "planning": ("resume", "cancel"),
    "planned": ("resume", "cancel"),
    "awaiting_approval": ("approve", "cancel"),
    "approved": ("launch", "cancel"),
    "dispatching": ("resume",),
    "executing": ("resume",),
}
ACTIONS = ("approve", "launch", "resume", "cancel")
assert all(s in ALLOWED for s in CANCELLABLE)


@dataclass(frozen=True)
class Actor:
    """Who pressed the button: the console account (id, login name, role)."""

    user_id: int | None
    username: str
    role: str


def allowed_actions(state: str) -> tuple[str, ...]:
    """The actions a run in ``state`` admits (none once closed or cancelled)."""
    return ALLOWED.get(state, ())


def perform(
    engine: Engine,
    run_id: int,
    action: str,
    *,
    actor: Actor,
    now: dt.datetime,
    dispatch: Step | None,
) -> str:
    """Do ``action`` on run ``run_id`` and record it; returns the run's state afterwards.

    Raises ``RunError`` (after recording the refusal) when the run does not
    exist, its state does not allow the action, or the core refuses it.
    ``dispatch`` is the composition root's execution step (``campaigns.run.launch``).
    """
    if action not in ACTIONS:
        raise RunError(f"{action!r} is not an action on a run ({', '.join(ACTIONS)})")
    before = _state_of(engine, run_id)
    if before is None:
        raise RunError(f"run {run_id} does not exist")
    try:
        if action not in allowed_actions(before):
            raise RunError(f"run {run_id} is {before}: {action} is not possible now")
        after = _carry_out(engine, run_id, action, now=now, dispatch=dispatch)
    except RunError as exc:
        record(engine, run_id, action, actor, before, _state_of(engine, run_id), str(exc), now)
        raise
    record(engine, run_id, action, actor, before, after, None, now)
    return after


def _carry_out(
    engine: Engine, run_id: int, action: str, *, now: dt.datetime, dispatch: Step | None
) -> str:
    if action == "cancel":
        cancel(engine, run_id, now=now)
        return "cancelled"
    if action == "approve":
        approve(engine, run_id, now=now)
    # approve, launch and resume all carry the run on as far as it goes now.
    return advance(engine, run_id, now=now, dispatch=dispatch)


def _state_of(engine: Engine, run_id: int) -> str | None:
    with engine.connect() as conn:
        state = conn.execute(sa.select(Run.state).where(Run.id == run_id)).scalar()
    return None if state is None else str(state)


def record(
    engine: Engine,
    run_id: int,
    action: str,
    actor: Actor,
    before: str,
    after: str | None,
    error: str | None,
    now: dt.datetime,
) -> None:
    """Write one press of a button on a run (done or refused) to ``run_actions``."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(RunAction).values(
                run_id=run_id,
                action=action,
                user_id=actor.user_id,
                username=actor.username,
                role=actor.role,
                state_before=before,
                state_after=after or before,
                error=error,
                at=now,
            )
        )


def history(engine: Engine, run_id: int) -> list[dict[str, Any]]:
    """Every recorded action on the run, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(RunAction.__table__).where(RunAction.run_id == run_id).order_by(RunAction.id)
        ).mappings()
        return [dict(r) for r in rows]
