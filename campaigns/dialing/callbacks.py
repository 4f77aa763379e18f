"""Callbacks set at the agent desktop, dialed at their time by the campaign's dial session.

The desktop stores a callback in ``web_callbacks`` (``campaigns.agents.disposition``):
the instant in UTC (the agent typed it in the customer's zone), the agent who
set it and the call's campaign. The dial session of that campaign whose slot
holds the instant takes it (:func:`sync_callbacks`, at the session's start and
every few seconds while it dials): a ``callback_dials`` row ``queued`` and a
lead ``callback:<id>`` in the slot's hopper, which hands it out first once its
instant has come (``RedisHopper.take``). From there it is an attempt like any
other: the session's guard checks the rules at dial time and reserves the
pending attempt before the Originate, the outcome goes to the ledger, and the
call is offered first to the agent who set the callback (docs/routing.md).

What became of it is kept on its ``callback_dials`` row, with the reason:
``dialing`` (the attempt), ``done`` (a conversation), ``refused`` (the rules
the guard named), ``missed`` (no answer, busy..., the slot closed before it
was dialed, or no dial session of its campaign covered its time). A
supervisor reads them with :func:`list_callbacks` (``cadencia callbacks list``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from campaigns.dialing.hopper import CALLBACK_PREFIX, RedisHopper
from campaigns.storage.accounts import Callback
from campaigns.storage.models import CallbackDial, Customer

log = logging.getLogger(__name__)

CALLBACKS: sa.Table = Callback.__table__  # type: ignore[assignment]
DIALS: sa.Table = CallbackDial.__table__  # type: ignore[assignment]
STATUSES = ("scheduled", "queued", "dialing", "done", "refused", "missed")
SLOT_CLOSED = "the slot closed before it was dialed"


def callback_id_of(key: str) -> int | None:
    """The callback a guard key dials, None for any other key."""
    if not key.startswith(CALLBACK_PREFIX):
        return None
    number = key.removeprefix(CALLBACK_PREFIX)
    return int(number) if number.isdigit() else None


@dataclass(frozen=True)
class SlotWindow:
    """The run, slot and campaign of a dial session, and the instants its slot covers."""

    run_id: int
    slot: int
    campaign: str
    start: dt.datetime
    end: dt.datetime


def sync_callbacks(
    engine: Engine, hopper: RedisHopper, window: SlotWindow, *, now: dt.datetime, rebuilt: bool
) -> int:
    """Queue the campaign's callbacks due in the slot into its hopper; returns how many.

    Each callback is queued once (its ``callback_dials`` row is the claim).
    ``rebuilt``: Redis lost the hopper, so the callbacks already queued for
    this slot go back in too (those reserved as in progress, to be reconciled).
    """
    if rebuilt:
        _requeue(engine, hopper, window)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CALLBACKS.c.id, CALLBACKS.c.customer_id, CALLBACKS.c.at)
            .outerjoin(DIALS, DIALS.c.callback_id == CALLBACKS.c.id)
            .where(
                CALLBACKS.c.campaign == window.campaign,
                CALLBACKS.c.status == "scheduled",
                CALLBACKS.c.at >= window.start,
                CALLBACKS.c.at < window.end,
                DIALS.c.callback_id.is_(None),
            )
            .order_by(CALLBACKS.c.at, CALLBACKS.c.id)
        ).all()
    queued = 0
    for row in rows:
        if not _claim(engine, int(row.id), window, now):
            continue  # another session claimed it
        hopper.add_callback(int(row.id), str(row.customer_id), row.at)
        queued += 1
    return queued


def _claim(engine: Engine, callback_id: int, window: SlotWindow, now: dt.datetime) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(DIALS).values(
                    callback_id=callback_id,
                    status="queued",
                    run_id=window.run_id,
                    slot=window.slot,
                    updated_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _requeue(engine: Engine, hopper: RedisHopper, window: SlotWindow) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CALLBACKS.c.id, CALLBACKS.c.customer_id, CALLBACKS.c.at, DIALS.c.status)
            .join(DIALS, DIALS.c.callback_id == CALLBACKS.c.id)
            .where(
                DIALS.c.run_id == window.run_id,
                DIALS.c.slot == window.slot,
                DIALS.c.status.in_(("queued", "dialing")),
            )
        ).all()
    for row in rows:
        hopper.add_callback(
            int(row.id), str(row.customer_id), row.at, in_progress=row.status == "dialing"
        )


def _set(engine: Engine, callback_id: int, now: dt.datetime, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(DIALS)
            .where(DIALS.c.callback_id == callback_id)
            .values(updated_at=now, **values)
        )


def note_refused(engine: Engine, callback_id: int, reason: str, now: dt.datetime) -> None:
    """The guard refused the callback: ``reason`` names the rules."""
    _set(engine, callback_id, now, status="refused", reason=reason)


def note_reserved(engine: Engine, callback_id: int, attempt_id: int, now: dt.datetime) -> None:
    """The guard allowed the callback and reserved ``attempt_id``: it is being dialed."""
    _set(engine, callback_id, now, status="dialing", attempt_id=attempt_id, reason=None)


def note_outcome(engine: Engine, attempt_id: int, outcome: str, now: dt.datetime) -> None:
    """The outcome of a callback's attempt (nothing when the attempt dialed no callback)."""
    done = outcome == "conversation"
    with engine.begin() as conn:
        conn.execute(
            sa.update(DIALS)
            .where(DIALS.c.attempt_id == attempt_id, DIALS.c.status == "dialing")
            .values(
                status="done" if done else "missed",
                reason=None if done else f"call outcome: {outcome}",
                updated_at=now,
            )
        )


def close_slot(engine: Engine, hopper: RedisHopper, window: SlotWindow, now: dt.datetime) -> int:
    """After the session: callbacks of the slot never dialed are missed; returns how many.

    Also marks missed the campaign's callbacks due before this slot that no
    session queued (no voice slot then, or the session had ended).
    """
    waiting = set(hopper.waiting_callbacks())
    with engine.begin() as conn:
        queued = conn.execute(
            sa.select(DIALS.c.callback_id).where(
                DIALS.c.run_id == window.run_id,
                DIALS.c.slot == window.slot,
                DIALS.c.status == "queued",
            )
        ).scalars()
        missed = waiting | {int(q) for q in queued}
        if missed:
            conn.execute(
                sa.update(DIALS)
                .where(DIALS.c.callback_id.in_(missed), DIALS.c.status == "queued")
                .values(status="missed", reason=SLOT_CLOSED, updated_at=now)
            )
    return len(missed) + _sweep_unreached(engine, window, now)


def _sweep_unreached(engine: Engine, window: SlotWindow, now: dt.datetime) -> int:
    """The campaign's callbacks due before the slot that no dial session took."""
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                sa.select(CALLBACKS.c.id)
                .outerjoin(DIALS, DIALS.c.callback_id == CALLBACKS.c.id)
                .where(
                    CALLBACKS.c.campaign == window.campaign,
                    CALLBACKS.c.status == "scheduled",
                    CALLBACKS.c.at < window.start,
                    DIALS.c.callback_id.is_(None),
                )
            ).scalars()
        )
        for callback_id in ids:
            conn.execute(
                sa.insert(DIALS).values(
                    callback_id=callback_id,
                    status="missed",
                    reason=f"no dial session of {window.campaign} was dialing at its time",
                    updated_at=now,
                )
            )
    return len(ids)


def agent_of(engine: Engine, callback_id: int) -> str | None:
    """The agent who set the callback (offered the call first)."""
    with engine.connect() as conn:
        agent = conn.execute(
            sa.select(CALLBACKS.c.agent).where(CALLBACKS.c.id == callback_id)
        ).scalar()
    return None if agent is None else str(agent)


@dataclass(frozen=True)
class CallbackRow:
    """One callback as a supervisor sees it."""

    id: int
    customer_id: str
    agent: str
    campaign: str | None
    at: str  # UTC, ISO 8601
    local_at: str  # in the customer's (first) time zone
    status: str  # scheduled (not yet taken by a session) or the callback_dials status
    reason: str | None
    attempt_id: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def list_callbacks(
    engine: Engine, *, agent: str | None = None, status: str | None = None
) -> list[CallbackRow]:
    """Callbacks with what became of them, by time; filtered by agent and status."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"callback status {status!r}: choose one of {', '.join(STATUSES)}")
    state = sa.func.coalesce(DIALS.c.status, "scheduled")
    query = (
        sa.select(
            CALLBACKS.c.id,
            CALLBACKS.c.customer_id,
            CALLBACKS.c.agent,
            CALLBACKS.c.campaign,
            CALLBACKS.c.at,
            state.label("state"),
            DIALS.c.reason,
            DIALS.c.attempt_id,
            Customer.timezones,
        )
        .outerjoin(DIALS, DIALS.c.callback_id == CALLBACKS.c.id)
        .outerjoin(Customer, Customer.external_id == CALLBACKS.c.customer_id)
        .order_by(CALLBACKS.c.at, CALLBACKS.c.id)
    )
    if agent is not None:
        query = query.where(CALLBACKS.c.agent == agent)
    if status is not None:
        query = query.where(state == status)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [_row(r) for r in rows]


def _row(r: Any) -> CallbackRow:
    zones = [z for z in (r.timezones or "").split(";") if z]
    at: dt.datetime = r.at
    local = at.astimezone(ZoneInfo(zones[0])) if zones else at
    return CallbackRow(
        id=int(r.id),
        customer_id=str(r.customer_id),
        agent=str(r.agent),
        campaign=r.campaign,
        at=at.isoformat(),
        local_at=local.isoformat(),
        status=str(r.state),
        reason=r.reason,
        attempt_id=None if r.attempt_id is None else int(r.attempt_id),
    )
