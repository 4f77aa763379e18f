"""Playing a recording back to a compliance officer: checked, streamed, logged.

Before a byte is sent the file's SHA-256 is computed again and compared
with the one stored when the call ended (the ledger's ``recording`` row
holds the same): a missing or altered file is refused, and the refusal is
logged, never played as if nothing happened. Every playback is a ``played``
line of the recordings' log: who, when, which recording. ``state`` says
the same for the timeline without logging anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from campaigns.recordings.records import get, log_event
from campaigns.recordings.store import RecordingMissing, RecordingStore, sha256_of

# What the timeline shows for a recording
STATES = ("ok", "missing", "altered", "deleted")


@dataclass(frozen=True)
class Verdict:
    """A recording's file against its stored SHA-256: ``state`` and what was found."""

    state: str
    sha256: str | None = None
    size: int | None = None

    @property
    def playable(self) -> bool:
        """Only an intact file is played."""
        return self.state == "ok"


def state(store: RecordingStore, row: Any) -> Verdict:
    """Whether ``row``'s file is kept, missing or altered (deleted by retention)."""
    if row.deleted_at is not None:
        return Verdict("deleted")
    try:
        sha256, size = sha256_of(store, row.storage_key)
    except RecordingMissing:
        return Verdict("missing")
    return Verdict("ok" if sha256 == row.sha256 else "altered", sha256, size)


class PlaybackRefused(LookupError):
    """The recording cannot be played: unknown, deleted, missing or altered (``verdict``)."""

    def __init__(self, message: str, verdict: Verdict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


def open_playback(
    engine: Engine, store: RecordingStore, recording_id: int, *, by: str, now: dt.datetime
) -> tuple[Any, Iterator[bytes]]:
    """Check recording ``recording_id`` and log the playback by ``by``; its row and bytes.

    ``PlaybackRefused`` (logged as ``refused``, with the reason) when it is not
    intact. The file could change between the check and the stream; the
    stream is the store's bytes, re-read, so a change after the check is the
    store's own integrity matter (object-lock in production).
    """
    row = get(engine, recording_id)
    if row is None:
        raise PlaybackRefused(f"there is no recording {recording_id}")
    verdict = state(store, row)
    with engine.begin() as conn:
        if not verdict.playable:
            detail = f"{verdict.state}: stored sha256 {row.sha256}, found {verdict.sha256}"
            log_event(conn, int(row.attempt_id), "refused", by, at=now,
                      recording_id=recording_id, detail=detail)  # fmt: skip
        else:
            log_event(conn, int(row.attempt_id), "played", by, at=now,
                      recording_id=recording_id, detail=f"sha256 {row.sha256} checked")  # fmt: skip
    if not verdict.playable:
        raise PlaybackRefused(f"recording {recording_id} is {verdict.state}", verdict)
    return row, store.chunks(row.storage_key)
