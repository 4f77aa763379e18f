"""The recordings' rows: registering a finished call's file, its events, a customer's list.

``register`` runs in the call desk once Asterisk has closed the file: the
file goes into the store under ``a<attempt>.<ext>``, hashed as it is copied;
then, in one transaction, the ledger's ``recording`` row (not a contact:
``NOT_CONTACTS``; file, size, SHA-256, attempt and the pauses) and the
``recordings`` row. A call registered twice (an event delivered again)
writes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.campaign import Campaign
from campaigns.campaign import Recording as RecordingPolicy
from campaigns.ledger.chain import EVENTS, LedgerEntry, append
from campaigns.recordings.policy import retain_until
from campaigns.recordings.store import RecordingStore
from campaigns.storage.models import Recording, RecordingEvent, Run

log = logging.getLogger(__name__)
RECORDINGS: sa.Table = Recording.__table__  # type: ignore[assignment]
EVENTS_LOG: sa.Table = RecordingEvent.__table__  # type: ignore[assignment]
ACTIONS = ("paused", "resumed", "played", "refused", "purged")


@dataclass(frozen=True)
class Registered:
    """A kept recording: its row, ledger row, key, SHA-256 and size."""

    recording_id: int
    ledger_event_id: int
    key: str
    sha256: str
    size: int


def log_event(
    conn: Connection,
    attempt_id: int,
    action: str,
    actor: str,
    *,
    at: dt.datetime,
    recording_id: int | None = None,
    detail: str | None = None,
) -> None:
    """One line of the recordings' access and control log (inside a transaction)."""
    if action not in ACTIONS:
        raise ValueError(f"recording event {action!r}: one of {ACTIONS}")
    conn.execute(
        sa.insert(RecordingEvent).values(
            at=at,
            attempt_id=attempt_id,
            recording_id=recording_id,
            action=action,
            actor=actor[:80],
            detail=detail,
        )
    )


def policy_of(engine: Engine, campaign: str | None) -> RecordingPolicy | None:
    """The campaign's ``[recording]`` section, from its latest run's file; None if unknown."""
    if not campaign:
        return None
    with engine.connect() as conn:
        toml = conn.execute(
            sa.select(Run.campaign_toml)
            .where(Run.campaign == campaign)
            .order_by(Run.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    return None if toml is None else Campaign.model_validate(tomllib.loads(toml)).recording


def attempt_campaign(engine: Engine, attempt_id: int) -> str | None:
    """The campaign of ledger attempt ``attempt_id`` (None: none, or no such attempt)."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(EVENTS.c.campaign).where(EVENTS.c.id == attempt_id)
        ).scalar_one_or_none()
    return None if found is None else str(found)


def attempt_by_key(engine: Engine, key: str) -> int | None:
    """The ledger attempt written under idempotency key ``key`` (``inbound:<uniqueid>``)."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(EVENTS.c.id).where(EVENTS.c.idempotency_key == key)
        ).scalar_one_or_none()
    return None if found is None else int(found)


def _attempt(conn: Connection, attempt_id: int) -> Any:
    row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == attempt_id)).first()
    if row is None or row.kind != "attempt":
        raise LookupError(f"recording of attempt {attempt_id}: no such attempt in the ledger")
    return row


def _pauses(conn: Connection, attempt_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(RecordingEvent.at, RecordingEvent.action, RecordingEvent.actor)
        .where(
            RecordingEvent.attempt_id == attempt_id,
            RecordingEvent.action.in_(("paused", "resumed")),
        )
        .order_by(RecordingEvent.id)
    )
    return [{"at": r.at.isoformat(), "action": r.action, "by": r.actor} for r in rows]


def registered(engine: Engine, attempt_id: int) -> int | None:
    """The recording row of ``attempt_id``, if it was registered already."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(Recording.id).where(Recording.attempt_id == attempt_id)
        ).scalar_one_or_none()
    return None if found is None else int(found)


def register(
    engine: Engine,
    store: RecordingStore,
    source: Path,
    attempt_id: int,
    *,
    recorded_at: dt.datetime,
    now: dt.datetime,
    default_retention_days: int,
) -> Registered | None:
    """Keep ``source`` as the recording of ``attempt_id``; None when it already is.

    The spool file is removed once the store and the database hold it.
    """
    if registered(engine, attempt_id) is not None:
        source.unlink(missing_ok=True)
        return None
    with engine.connect() as conn:
        attempt = _attempt(conn, attempt_id)
    policy = policy_of(engine, attempt.campaign)
    days = default_retention_days if policy is None else policy.retention_days
    key = f"a{attempt_id}{source.suffix or '.wav'}"
    stored = store.put(key, source)
    with engine.begin() as conn:
        entry = LedgerEntry(
            at=recorded_at,
            customer_id=attempt.customer_id,
            debt_ids=tuple(json.loads(attempt.debt_ids or "[]")),
            channel="voice",
            direction=attempt.direction,
            kind="recording",
            campaign=attempt.campaign,
            extra={
                "attempt": attempt_id,
                "file": stored.key,
                "bytes": stored.size,
                "sha256": stored.sha256,
                "pauses": _pauses(conn, attempt_id),
            },
            idempotency_key=f"recording:{attempt_id}",
        )
        (event_id,) = append(conn, [entry], now=now)
        recording_id = conn.execute(
            sa.insert(Recording)
            .values(
                attempt_id=attempt_id,
                customer_id=attempt.customer_id,
                campaign=attempt.campaign,
                storage_key=stored.key,
                sha256=stored.sha256,
                bytes=stored.size,
                recorded_at=recorded_at,
                stored_at=now,
                retain_until=retain_until(recorded_at, days),
                ledger_event_id=event_id,
            )
            .returning(Recording.id)
        ).scalar_one()
        conn.execute(
            sa.update(RecordingEvent)
            .where(RecordingEvent.attempt_id == attempt_id, RecordingEvent.recording_id.is_(None))
            .values(recording_id=recording_id)
        )
    source.unlink(missing_ok=True)
    log.info("recording of attempt %s kept as %s (%s bytes)", attempt_id, key, stored.size)
    return Registered(int(recording_id), int(event_id), stored.key, stored.sha256, stored.size)


def of_customer(engine: Engine, customer_id: str) -> list[Any]:
    """The customer's recordings, oldest first (deleted ones too)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(RECORDINGS)
                .where(RECORDINGS.c.customer_id == customer_id)
                .order_by(RECORDINGS.c.recorded_at, RECORDINGS.c.id)
            )
        )


def get(engine: Engine, recording_id: int) -> Any | None:
    """One recording row, or None."""
    with engine.connect() as conn:
        return conn.execute(sa.select(RECORDINGS).where(RECORDINGS.c.id == recording_id)).first()


def events_of(engine: Engine, attempt_id: int) -> list[Any]:
    """The access and control log of one call's recording, in order."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(EVENTS_LOG)
                .where(EVENTS_LOG.c.attempt_id == attempt_id)
                .order_by(EVENTS_LOG.c.id)
            )
        )
