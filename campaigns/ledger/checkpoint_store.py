"""Where signed ledger checkpoints are kept: write-once, by name.

``CheckpointStore`` is all the checkpoint code needs: put a new object that
must not exist yet, list the names, read one back. ``DirectoryStore`` is the
default (a local or mounted directory). In production an object store with
write-once retention implements the same three calls: S3 with Object Lock in
compliance mode (``PutObject`` with ``If-None-Match: *`` and a retention
date), Azure immutable blob storage, or GCS with a locked retention policy;
then not even the account that writes the checkpoints can change or delete
one before its retention ends.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Protocol

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CheckpointExists(FileExistsError):
    """A checkpoint with this name is already stored; stored checkpoints are never replaced."""


class CheckpointStore(Protocol):
    """A write-once store of named checkpoint files."""

    def put(self, name: str, data: bytes) -> str:
        """Store ``data`` under ``name``; raise ``CheckpointExists`` if the name is taken.

        Returns where it was stored (a path or URL, for messages).
        """
        ...

    def names(self) -> list[str]:
        """Every stored name, sorted."""
        ...

    def get(self, name: str) -> bytes:
        """The stored bytes of ``name``."""
        ...

    def where(self, name: str | None = None) -> str:
        """The store's location, or ``name``'s, for messages."""
        ...


class DirectoryStore:
    """Checkpoint files in a directory, each created once and left read-only.

    A file is written under a temporary name first (``O_EXCL``, mode 0400),
    synced, made read-only for everyone (0444) and then hard-linked to its
    final name: the link fails if the name exists, so a stored checkpoint is
    never replaced, and a crash mid-write leaves no half-written checkpoint.
    A file system lets its owner (and root) delete files anyway: deleting one
    in the middle breaks the checkpoints' own chain, but deleting the newest
    ones does not show, which is why production wants an object store with
    retention (module docstring) or a copy off the host.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes) -> str:
        """Create ``name`` with ``data``, read-only; ``CheckpointExists`` if it exists."""
        _check_name(name)
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / name
        temporary = self.root / f".{name}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o444)
            try:
                os.link(temporary, final)
            except FileExistsError:
                raise CheckpointExists(
                    f"{final} already exists; checkpoints are write-once"
                ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        _sync_directory(self.root)
        return str(final)

    def names(self) -> list[str]:
        """The stored checkpoint files' names, sorted (temporary files are not listed)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if NAME.match(p.name) and p.is_file())

    def get(self, name: str) -> bytes:
        """The content of ``name``."""
        _check_name(name)
        return (self.root / name).read_bytes()

    def where(self, name: str | None = None) -> str:
        """The directory, or the file ``name`` in it."""
        return str(self.root if name is None else self.root / name)


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise ValueError(f"{name!r} is not a checkpoint name")


def _sync_directory(path: Path) -> None:
    """Make the new directory entry durable (a crash must not lose a signed checkpoint)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
