"""Making signed checkpoints of the ledger, and verifying the ledger against them.

``make_checkpoint`` (``cadencia ledger checkpoint``, on a schedule) signs the
rows appended since the newest stored checkpoint, after checking that they
chain onto it: if the database no longer holds what that checkpoint attests,
it signs nothing and says so. ``verify_with_checkpoints`` (``cadencia audit
verify --checkpoint``) checks the stored checkpoints' signatures and their
own chain, then recomputes the ledger's chain row by row against them, and
names the first row that is not as they attest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection, Engine

from campaigns.ledger.chain import EVENTS, ChainReport, chain_rows, link_hash, verify
from campaigns.ledger.checkpoint import (
    EMPTY,
    FILE_PREFIX,
    PREFIX_BYTES,
    Checkpoint,
    CheckpointError,
    CheckpointRefused,
    Head,
    Segment,
    build_body,
    check_follows,
    decode,
    encode,
    file_name,
)
from campaigns.ledger.checkpoint_store import CheckpointStore
from campaigns.ledger.signing import Signer
from campaigns.storage.db import reading
from campaigns.storage.models import LedgerHead

HINT = "run `cadencia audit verify --checkpoint` on every checkpoint to name the row"


def checkpoint_names(store: CheckpointStore) -> list[str]:
    """The store's checkpoint files, oldest first (other files are ignored)."""
    return [n for n in store.names() if n.startswith(FILE_PREFIX) and n.endswith(".json")]


def make_checkpoint(
    engine: Engine,
    store: CheckpointStore,
    signer: Signer,
    *,
    now: dt.datetime,
    publics: Mapping[str, Ed25519PublicKey] | None = None,
) -> Checkpoint:
    """Sign and store the next checkpoint; returns it.

    The newest stored checkpoint must verify (with the signer's own key or one
    of ``publics``, for checkpoints signed before a key rotation) and the
    database must still hold the rows it attests; otherwise
    ``CheckpointError`` or ``CheckpointRefused`` is raised and nothing is
    written. ``CheckpointExists`` means another job stored this one first.
    """
    keys = {**(publics or {}), signer.key_id: signer.public}
    names = checkpoint_names(store)
    previous: Checkpoint | None = None
    if names:
        previous, _ = decode(store.get(names[-1]), store.where(names[-1]), keys)
    start = EMPTY if previous is None else previous.head
    with reading(engine) as conn:
        head = _database_head(conn)
        ids, prefixes = _rows_since(conn, start, head, previous)
    seq = 1 if previous is None else previous.seq + 1
    body = build_body(seq, now, signer.key_id, head, previous, ids, prefixes)
    data = encode(body, signer)
    where = store.put(file_name(seq), data)
    checkpoint, _ = decode(data, where, keys)
    return checkpoint


def _database_head(conn: Connection) -> Head:
    row = conn.execute(
        sa.select(LedgerHead.events, LedgerHead.last_event_id, LedgerHead.last_hash).where(
            LedgerHead.id == 1
        )
    ).first()
    return EMPTY if row is None else Head(int(row[0]), int(row[1]), str(row[2]))


def _rows_since(
    conn: Connection, start: Head, head: Head, previous: Checkpoint | None
) -> tuple[list[int], bytes]:
    """Ids and hash prefixes of the rows after ``start`` up to ``head``, every link checked.

    Raises ``CheckpointRefused`` when the database no longer extends ``start``.
    """
    seq = "the previous checkpoint" if previous is None else f"checkpoint {previous.seq}"
    if head.events < start.events or head.last_event_id < start.last_event_id:
        raise CheckpointRefused(
            f"the ledger's head ({head.events} events up to id {head.last_event_id}) is behind "
            f"{seq} ({start.events} events up to id {start.last_event_id}): rows were deleted; "
            + HINT
        )
    if start.last_event_id:
        anchor = conn.execute(
            sa.select(EVENTS.c.hash).where(EVENTS.c.id == start.last_event_id)
        ).scalar()
        if anchor != start.last_hash:
            state = "is missing" if anchor is None else "no longer has the hash it signed"
            raise CheckpointRefused(
                f"row {start.last_event_id}, the last one {seq} attests, {state}: "
                f"the ledger was rewritten at or before it; {HINT}"
            )
    prev_hash, ids, prefixes = start.last_hash, [], bytearray()
    for row in chain_rows(conn, start.last_event_id, head.last_event_id):
        if row["prev_hash"] != prev_hash or link_hash(prev_hash, dict(row)) != row["hash"]:
            raise CheckpointRefused(
                f"row {row['id']} does not chain onto the rows before it (edited or a row "
                f"deleted before it); {HINT}"
            )
        prev_hash = row["hash"]
        ids.append(int(row["id"]))
        prefixes += bytes.fromhex(prev_hash)[:PREFIX_BYTES]
    if start.events + len(ids) != head.events or prev_hash != head.last_hash:
        raise CheckpointRefused(
            f"the chain head ({head.events} events, hash {head.last_hash[:16]}…) does not "
            f"match its rows ({start.events + len(ids)} events, hash {prev_hash[:16]}…); {HINT}"
        )
    return ids, bytes(prefixes)


def load_checkpoints(
    store: CheckpointStore,
    names: Sequence[str],
    publics: Mapping[str, Ed25519PublicKey],
    *,
    from_first: bool = True,
) -> list[Checkpoint]:
    """Every named checkpoint, signature checked, each extending the one before it.

    With ``from_first`` the first must be checkpoint 1 (a whole store: the
    oldest ones must not have gone). Raises ``CheckpointError`` naming the
    first that fails. Segments are not kept (they are read again, one at a
    time, while the ledger is compared).
    """
    if not names:
        raise CheckpointError(f"{store.where()}: no checkpoint files ({FILE_PREFIX}*.json)")
    loaded: list[Checkpoint] = []
    for name in names:
        checkpoint, _ = decode(store.get(name), store.where(name), publics)
        if loaded:
            check_follows(loaded[-1], checkpoint)
        elif from_first and checkpoint.previous_seq is not None:
            raise CheckpointError(
                f"{checkpoint.source}: the oldest checkpoint in {store.where()} is "
                f"{checkpoint.seq}: checkpoints 1 to {checkpoint.seq - 1} are missing"
            )
        loaded.append(checkpoint)
    return loaded


@dataclass
class CheckpointWitness:
    """The rows the checkpoints attest, compared one by one with the database's (``Witness``).

    ``segment_of`` reads a checkpoint's segment again (its digest must not
    have changed since it was verified). Rows before the first checkpoint's
    starting head are attested only through that head's hash (the chain
    commits to every row before it), rows after the newest are not attested.
    """

    checkpoints: Sequence[Checkpoint]
    segment_of: Callable[[Checkpoint], Segment]
    attested: int = 0
    unattested: int = 0
    _start_seen: bool = False
    _expected: Iterator[tuple[int, bytes, Checkpoint]] = field(init=False)
    _next: tuple[int, bytes, Checkpoint] | None = field(init=False)

    def __post_init__(self) -> None:
        self._expected = self._rows()
        self._next = next(self._expected, None)
        self._start_seen = self.checkpoints[0].previous.last_event_id == 0

    def _rows(self) -> Iterator[tuple[int, bytes, Checkpoint]]:
        for checkpoint in self.checkpoints:
            for event_id, prefix in self.segment_of(checkpoint).rows():
                yield event_id, prefix, checkpoint

    def row(self, event_id: int, row_hash: str) -> tuple[str, int] | None:
        """The problem with the database's next row, if it is not as attested."""
        first = self.checkpoints[0]
        start = first.previous
        if not self._start_seen:
            if event_id < start.last_event_id:
                return None
            self._start_seen = True
            if event_id > start.last_event_id or row_hash != start.last_hash:
                return (
                    f"row {start.last_event_id}, where checkpoint {first.seq} starts, is missing "
                    "or was rewritten, or a row before it was (only later checkpoints were "
                    "given: give them all to name the row)",
                    start.last_event_id,
                )
            # Every row up to here is attested by that head's hash (the chain
            # commits to them), though not one by one.
            self.attested += start.events
            return None
        return self._attested(event_id, row_hash)

    def _attested(self, event_id: int, row_hash: str) -> tuple[str, int] | None:
        if self._next is None:
            self.unattested += 1
            return None
        expected, prefix, cp = self._next
        signed = f"checkpoint {cp.seq} (signed {cp.at}, {cp.source})"
        if event_id > expected:
            return f"row {expected} is missing: {signed} attests it", expected
        if event_id < expected:
            return f"row {event_id} is not in {signed}: it was inserted afterwards", event_id
        full_differs = event_id == cp.head.last_event_id and row_hash != cp.head.last_hash
        if row_hash[: 2 * PREFIX_BYTES] != prefix.hex() or full_differs:
            return (
                f"row {event_id} differs from {signed}: it was rewritten (signed hash "
                f"{prefix.hex()}…, database {row_hash[: 2 * PREFIX_BYTES]}…)",
                event_id,
            )
        self.attested += 1
        self._next = next(self._expected, None)
        return None

    def end(self) -> tuple[str, int] | None:
        """After the last row: attested rows that never came are missing (a cut tail)."""
        first, newest = self.checkpoints[0], self.checkpoints[-1]
        if not self._start_seen:
            return (
                f"row {first.previous.last_event_id}, where checkpoint {first.seq} starts, "
                "is missing: the ledger was cut",
                first.previous.last_event_id,
            )
        if self._next is None:
            return None
        expected, _, cp = self._next
        return (
            f"row {expected} and every row after it up to {newest.head.last_event_id} are "
            f"missing ({newest.head.events} events attested by checkpoint {newest.seq}, "
            f"signed {newest.at}; first missing row in checkpoint {cp.seq}): the tail was cut",
            expected,
        )


@dataclass(frozen=True)
class CheckpointReport:
    """``verify``'s result against the checkpoints, with what they covered."""

    chain: ChainReport
    checkpoints: Sequence[Checkpoint]
    attested: int
    unattested: int

    @property
    def ok(self) -> bool:
        """True when the chain verifies and every attested row is as signed."""
        return self.chain.ok

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        newest = self.checkpoints[-1]
        return {
            **self.chain.as_dict(),
            "checkpoints": len(self.checkpoints),
            "newest_checkpoint": newest.as_dict(),
            "attested_events": self.attested,
            "events_after_newest_checkpoint": self.unattested,
        }


def verify_with_checkpoints(
    engine: Engine,
    store: CheckpointStore,
    names: Sequence[str],
    publics: Mapping[str, Ed25519PublicKey],
    *,
    from_first: bool = True,
) -> CheckpointReport:
    """Verify the checkpoints (``CheckpointError`` if one fails), then the ledger against them.

    ``from_first`` (a whole store) requires checkpoint 1 among them; without
    it (one file, or the latest few) the rows before the first checkpoint
    given are checked through the hash of the head it starts from.
    """
    checkpoints = load_checkpoints(store, names, publics, from_first=from_first)
    by_seq = dict(zip((c.seq for c in checkpoints), names, strict=True))

    def segment_of(checkpoint: Checkpoint) -> Segment:
        again, segment = decode(store.get(by_seq[checkpoint.seq]), checkpoint.source, publics)
        if again.digest != checkpoint.digest:
            raise CheckpointError(f"{checkpoint.source} changed while it was being verified")
        return segment

    witness = CheckpointWitness(checkpoints, segment_of)
    report = verify(engine, witness)
    return CheckpointReport(report, checkpoints, witness.attested, witness.unattested)
