"""Retention: delete the recordings their campaign no longer keeps, and record each deletion.

A recording is kept until ``retain_until`` (its campaign's ``[recording]
retention_days`` after the call, fixed when it was stored). ``purge``
deletes each expired file from the store, then fills the row's
``deleted_at`` and ``deletion_reason`` and writes a ``purged`` line in the
recordings' log, in one transaction per recording; the ledger's
``recording`` row stays (the ledger is append-only): it keeps proving the
call was recorded, with the file's SHA-256. Run it on a schedule:
``cadencia recordings purge --every 86400``, or the RQ job ``purge_job`` on
the queue ``QUEUE``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.recordings.records import log_event
from campaigns.recordings.store import DirectoryStore, RecordingStore
from campaigns.settings import Settings
from campaigns.storage.db import make_engine
from campaigns.storage.models import Recording

log = logging.getLogger(__name__)
QUEUE = "recordings"
JOB_FUNCTION = "campaigns.recordings.purge.purge_job"
ACTOR = "retention"


@dataclass(frozen=True)
class Purged:
    """One recording the retention job deleted."""

    recording_id: int
    attempt_id: int
    key: str
    retain_until: dt.datetime
    file_found: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**vars(self), "retain_until": self.retain_until.isoformat()}


def purge(
    engine: Engine, store: RecordingStore, *, now: dt.datetime, limit: int = 1000
) -> list[Purged]:
    """Delete up to ``limit`` recordings whose ``retain_until`` has passed; what was done.

    The claim is a conditional UPDATE, so two purges at once never record one
    deletion twice. A file already gone is recorded as such (``file_found``).
    """
    with engine.connect() as conn:
        due = list(
            conn.execute(
                sa.select(Recording.id, Recording.attempt_id, Recording.storage_key,
                          Recording.retain_until)
                .where(Recording.deleted_at.is_(None), Recording.retain_until <= now)
                .order_by(Recording.retain_until, Recording.id)
                .limit(limit)
            )
        )  # fmt: skip
    done: list[Purged] = []
    for row in due:
        reason = f"retention: kept until {row.retain_until.isoformat()}"
        with engine.begin() as conn:
            claimed = conn.execute(
                sa.update(Recording)
                .where(Recording.id == row.id, Recording.deleted_at.is_(None))
                .values(deleted_at=now, deletion_reason=reason)
            ).rowcount
            if not claimed:
                continue
            found = store.delete(row.storage_key)
            detail = reason if found else f"{reason}; the file was already missing"
            log_event(conn, int(row.attempt_id), "purged", ACTOR, at=now,
                      recording_id=int(row.id), detail=detail)  # fmt: skip
        done.append(
            Purged(int(row.id), int(row.attempt_id), row.storage_key, row.retain_until, found)
        )
        log.info("recording %s (attempt %s) purged: %s", row.id, row.attempt_id, detail)
    return done


def purge_job(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """RQ entry point: purge what is due now; returns what was deleted."""
    settings = Settings.load()
    engine = make_engine(settings.database_url)
    try:
        store = DirectoryStore(settings.recordings().store)
        purged = purge(engine, store, now=dt.datetime.now(dt.UTC))
        return {"purged": [p.as_dict() for p in purged]}
    finally:
        engine.dispose()
