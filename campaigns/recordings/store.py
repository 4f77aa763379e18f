"""Where kept recordings live: the ``RecordingStore`` interface and its local directory.

A store holds files by key (``a<attempt id>.wav``). ``put`` copies a file in
and returns its SHA-256 and size, computed on the bytes as they are written,
so what the ledger records is what the store holds. An S3-compatible bucket
implements the same four methods (``put`` as a multipart upload whose parts
are hashed on the way; ``open`` a streamed ``GetObject``); none ships here:
the project adds no client library for it yet.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 16
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class RecordingMissing(FileNotFoundError):
    """The store has no file under that key."""


@dataclass(frozen=True)
class Stored:
    """A file as the store wrote it: its key, SHA-256 (hex) and size in bytes."""

    key: str
    sha256: str
    size: int


class RecordingStore(Protocol):
    """A place recordings are kept, by key."""

    def put(self, key: str, source: Path) -> Stored:
        """Copy ``source`` in under ``key`` (replacing nothing); its hash and size."""
        ...

    def chunks(self, key: str) -> Iterator[bytes]:
        """The file's bytes, in chunks; ``RecordingMissing`` when absent."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the file; False when it was not there."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a file is kept under ``key``."""
        ...


def _checked(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"recording key {key!r}: letters, digits, '.', '_' and '-' only")
    return key


@dataclass(frozen=True)
class DirectoryStore:
    """Recordings as files of one directory (``CADENCIA_RECORDING_DIR``), mode 0640."""

    root: Path

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, source: Path) -> Stored:
        """Copy through a temporary file, hashing as it goes, then rename into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self._path(key)
        partial = final.with_name(f".{final.name}.partial")
        digest, size = hashlib.sha256(), 0
        with source.open("rb") as src, partial.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        partial.chmod(0o640)
        if final.exists():
            partial.unlink()
            raise FileExistsError(f"recording store {self.root}: {key} is already kept")
        partial.rename(final)
        return Stored(key, digest.hexdigest(), size)

    def chunks(self, key: str) -> Iterator[bytes]:
        """The kept file's bytes, 64 KiB at a time."""
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise RecordingMissing(f"recording store {self.root}: no {key}") from None
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> bool:
        """Unlink the file."""
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return self._path(key).is_file()


def sha256_of(store: RecordingStore, key: str) -> tuple[str, int]:
    """The SHA-256 and size of what ``store`` holds under ``key`` now."""
    digest, size = hashlib.sha256(), 0
    for chunk in store.chunks(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
