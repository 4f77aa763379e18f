"""Signed checkpoints of the ledger: proof, kept outside the database, of what it held.

The hash chain alone proves nothing to someone who can write the database:
they can edit a row, recompute every later hash and the head. A checkpoint
is a statement signed with an Ed25519 key the database never sees: at time
T the ledger had N events, the last one id X with hash H, and the rows since
the previous checkpoint had these ids and these hash prefixes. Each
checkpoint names the previous one's digest and head, so the checkpoints form
a chain of their own (docs/ledger-format.md, "Signed checkpoints").

Detection rests on the full head hash: a changed row changes every later
hash, so the chain no longer ends at the signed H. The per-row prefixes
(``PREFIX_BYTES`` of each row's hash) only locate the change: the first row
whose hash no longer starts with its signed prefix is the first row that was
rewritten. Eight bytes cost 8 bytes per row (about 10.7 MB of base64 per
million rows) and would take some 2^64 hashes to grind around.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from campaigns.ledger.chain import GENESIS
from campaigns.ledger.signing import Signer, verify_signature

FORMAT = "cadencia-ledger-checkpoint/1"
PREFIX_BYTES = 8
FILE_PREFIX = "ledger-checkpoint-"
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


class CheckpointError(ValueError):
    """A checkpoint is malformed, badly signed, or does not follow the one before it."""


class CheckpointRefused(RuntimeError):
    """The ledger no longer matches the latest checkpoint: nothing was signed."""


def file_name(seq: int) -> str:
    """The stored name of checkpoint ``seq`` (names sort in sequence order)."""
    return f"{FILE_PREFIX}{seq:012d}.json"


def canonical(doc: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and hashed: sorted keys, no spaces, ASCII."""
    return _CANONICAL(doc).encode("ascii")


@dataclass(frozen=True)
class Head:
    """A point of the chain: ``events`` rows, the last with id ``last_event_id`` and hash."""

    events: int
    last_event_id: int
    last_hash: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "events": self.events,
            "last_event_id": self.last_event_id,
            "last_hash": self.last_hash,
        }


EMPTY = Head(0, 0, GENESIS)


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint's header (its segment is read separately: it can be large)."""

    seq: int
    at: str
    key_id: str
    head: Head
    previous: Head
    previous_seq: int | None
    previous_digest: str | None
    digest: str
    rows: int
    source: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"seq": self.seq, "at": self.at, "key_id": self.key_id, "source": self.source}


@dataclass(frozen=True)
class Segment:
    """The rows a checkpoint attests since the previous one: ids and hash prefixes."""

    ids: list[list[int]]  # [first id, how many consecutive ids]
    prefixes: bytes

    def rows(self) -> Iterator[tuple[int, bytes]]:
        """(id, hash prefix) of every attested row, in id order."""
        position = 0
        for first, count in self.ids:
            for event_id in range(first, first + count):
                yield event_id, self.prefixes[position : position + PREFIX_BYTES]
                position += PREFIX_BYTES


def _segment_body(ids: list[int], prefixes: bytes) -> dict[str, Any]:
    """The segment as stored: runs of consecutive ids and the prefixes in base64."""
    runs: list[list[int]] = []
    for event_id in ids:
        if runs and runs[-1][0] + runs[-1][1] == event_id:
            runs[-1][1] += 1
        else:
            runs.append([event_id, 1])
    return {
        "prefix_bytes": PREFIX_BYTES,
        "ids": runs,
        "hashes": base64.b64encode(prefixes).decode("ascii"),
    }


def build_body(
    seq: int,
    at: dt.datetime,
    signer_id: str,
    head: Head,
    previous: Checkpoint | None,
    ids: list[int],
    prefixes: bytes,
) -> dict[str, Any]:
    """The document a checkpoint signs."""
    return {
        "format": FORMAT,
        "seq": seq,
        "at": at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "key_id": signer_id,
        **head.as_dict(),
        "previous": None
        if previous is None
        else {"seq": previous.seq, "digest": previous.digest, **previous.head.as_dict()},
        "segment": _segment_body(ids, prefixes),
    }


def encode(body: Mapping[str, Any], signer: Signer) -> bytes:
    """The checkpoint file: the body and its signature, canonical JSON on one line."""
    signature = signer.sign(canonical(body))
    return canonical({"body": body, "signature": signature}) + b"\n"


def decode(
    data: bytes, source: str, publics: Mapping[str, Ed25519PublicKey]
) -> tuple[Checkpoint, Segment]:
    """Read a checkpoint file and check its signature; raise ``CheckpointError`` if it fails.

    The signature is checked before anything in the body is believed.
    """
    try:
        doc = json.loads(data)
        body, signature = doc["body"], doc["signature"]
        message = canonical(body)
        key = str(body["key_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: not a checkpoint file ({exc})") from None
    if key not in publics:
        raise CheckpointError(
            f"{source}: signed by key {key}, which is not among the public keys given "
            f"({', '.join(sorted(publics)) or 'none'})"
        )
    if not isinstance(signature, str) or not verify_signature(publics[key], signature, message):
        raise CheckpointError(f"{source}: the signature does not verify with key {key}: refused")
    try:
        return _parse(body, source, hashlib.sha256(message).hexdigest())
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise CheckpointError(f"{source}: malformed checkpoint body ({exc})") from None


def _parse(body: Mapping[str, Any], source: str, digest: str) -> tuple[Checkpoint, Segment]:
    """The signed body's fields, checked for type and internal consistency."""
    if body["format"] != FORMAT:
        raise ValueError(f"format {body['format']!r}, expected {FORMAT!r}")
    head = Head(int(body["events"]), int(body["last_event_id"]), str(body["last_hash"]))
    prev = body["previous"]
    previous = (
        EMPTY
        if prev is None
        else Head(int(prev["events"]), int(prev["last_event_id"]), str(prev["last_hash"]))
    )
    seg = body["segment"]
    if int(seg["prefix_bytes"]) != PREFIX_BYTES:
        raise ValueError(f"prefix_bytes {seg['prefix_bytes']}, expected {PREFIX_BYTES}")
    segment = Segment(
        [[int(a), int(n)] for a, n in seg["ids"]], base64.b64decode(seg["hashes"], validate=True)
    )
    checkpoint = Checkpoint(
        seq=int(body["seq"]),
        at=str(body["at"]),
        key_id=str(body["key_id"]),
        head=head,
        previous=previous,
        previous_seq=None if prev is None else int(prev["seq"]),
        previous_digest=None if prev is None else str(prev["digest"]),
        digest=digest,
        rows=sum(n for _, n in segment.ids),
        source=source,
    )
    _check_segment(checkpoint, segment)
    return checkpoint, segment


def _check_segment(cp: Checkpoint, segment: Segment) -> None:
    """The segment must lead from the previous head to this one, ids increasing."""
    if (
        len(segment.prefixes) != cp.rows * PREFIX_BYTES
        or cp.head.events != cp.previous.events + cp.rows
    ):
        raise ValueError(f"the segment's {cp.rows} rows do not account for the event counts")
    last, last_prefix = (
        cp.previous.last_event_id,
        bytes.fromhex(cp.previous.last_hash)[:PREFIX_BYTES],
    )
    for first, count in segment.ids:
        if first <= last or count < 1:
            raise ValueError(f"segment ids are not increasing at {first}")
        last = first + count - 1
    if cp.rows:
        last_prefix = segment.prefixes[-PREFIX_BYTES:]
    if (
        last != cp.head.last_event_id
        or last_prefix != bytes.fromhex(cp.head.last_hash)[:PREFIX_BYTES]
    ):
        raise ValueError("the segment does not end at the checkpoint's head")


def check_follows(previous: Checkpoint, cp: Checkpoint) -> None:
    """Raise ``CheckpointError`` unless ``cp`` extends ``previous`` directly."""
    if cp.seq != previous.seq + 1 or cp.previous_seq != previous.seq:
        raise CheckpointError(
            f"{cp.source}: checkpoint {cp.seq} does not follow checkpoint {previous.seq} "
            "(one is missing or out of place)"
        )
    if cp.previous_digest != previous.digest or cp.previous != previous.head:
        raise CheckpointError(
            f"{cp.source}: checkpoint {cp.seq} does not extend checkpoint {previous.seq} "
            f"({previous.source}): its previous head or digest differs"
        )
