"""Ed25519 keys for the ledger's signed checkpoints: make, read, sign, check.

The private key is a PKCS#8 PEM file that only the checkpoint job can read;
the public key travels as one line of base64 (its 32 raw bytes), easy to put
in a variable, a ticket or an auditor's notes, or as a PEM block. A key's id
is the first 16 hex digits of the SHA-256 of its raw bytes: a checkpoint
names the key that signed it, so keys can be rotated and old checkpoints
still verified with the old public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.DOTALL)


class SigningKeyError(ValueError):
    """A key cannot be read or is not an Ed25519 key; the message says which and why."""


def raw_public(key: Ed25519PublicKey) -> bytes:
    """The key's 32 raw bytes."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The key's id: 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_line(key: Ed25519PublicKey) -> str:
    """The public key as one line of base64 (what ``CADENCIA_CHECKPOINT_PUBLIC_KEY`` takes)."""
    return base64.b64encode(raw_public(key)).decode("ascii")


@dataclass(frozen=True)
class Signer:
    """A private key and the id of its public half."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        """The public half."""
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        """The public half's id."""
        return key_id(self.public)

    def sign(self, message: bytes) -> str:
        """The base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self.private.sign(message)).decode("ascii")


def load_private(pem: str, where: str) -> Signer:
    """A signer from PKCS#8 PEM text; raises ``SigningKeyError`` naming ``where``."""
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SigningKeyError(f"{where}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where}: the key is not an Ed25519 key")
    return Signer(key)


def load_publics(text: str, where: str) -> dict[str, Ed25519PublicKey]:
    """Public keys by id from PEM blocks or base64 lines (separated by spaces, commas or lines).

    Several keys let old checkpoints verify after a rotation.
    """
    keys: list[Ed25519PublicKey] = []
    for block in _PEM_BLOCK.findall(text):
        try:
            key = serialization.load_pem_public_key(block.encode("ascii"))
        except ValueError as exc:
            raise SigningKeyError(f"{where}: not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"{where}: a key is not an Ed25519 key")
        keys.append(key)
    for token in re.split(r"[\s,]+", _PEM_BLOCK.sub(" ", text).strip()):
        if token:
            keys.append(_raw_key(token, where))
    if not keys:
        raise SigningKeyError(f"{where}: no public key in it")
    return {key_id(k): k for k in keys}


def _raw_key(token: str, where: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(token, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise SigningKeyError(
            f"{where}: {token[:12]}… is not the base64 of a 32-byte Ed25519 public key"
        ) from None


def verify_signature(key: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    """True when ``signature`` (base64) is ``key``'s signature of ``message``."""
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def generate(private_path: Path) -> tuple[Signer, Path]:
    """Make a key pair: ``private_path`` (PEM, mode 0600) and ``private_path.pub`` (base64).

    Both are created exclusively: an existing key is never overwritten, since
    losing the private key would leave checkpoints no one can continue.
    """
    signer = Signer(Ed25519PrivateKey.generate())
    pem = signer.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_path = private_path.with_name(private_path.name + ".pub")
    _write_new(private_path, pem, 0o600)
    try:
        _write_new(public_path, (public_line(signer.public) + "\n").encode("ascii"), 0o644)
    except OSError:
        private_path.unlink()
        raise
    return signer, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (it must not exist) and write ``data`` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
