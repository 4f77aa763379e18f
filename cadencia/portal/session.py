"""The signed cookie that says "this browser answered this link's identity check".

``<link id>.<expiry>.<csrf>.<HMAC-SHA256>``: bound to one link, valid for
``SESSION_MINUTES``, carrying the CSRF token every form posts back. The key
is ``CADENCIA_PORTAL_SECRET`` (required when several portal processes serve
the same links); without one, each process draws its own at start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "cadencia_portal"
SESSION_MINUTES = 30


@dataclass(frozen=True)
class Session:
    """A verified session: the link it is for and its CSRF token."""

    link_id: int
    csrf: str


class Signer:
    """Issues and checks session cookies with one key."""

    def __init__(self, secret: str | None) -> None:
        self._key = (secret or secrets.token_urlsafe(32)).encode("utf-8")

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(self, link_id: int, now: dt.datetime) -> tuple[str, Session]:
        """A cookie value for ``link_id`` valid from ``now``, and its session."""
        expiry = int((now + dt.timedelta(minutes=SESSION_MINUTES)).timestamp())
        csrf = secrets.token_urlsafe(24)
        payload = f"{link_id}.{expiry}.{csrf}"
        return f"{payload}.{self._mac(payload)}", Session(link_id, csrf)

    def read(self, value: str | None, link_id: int, now: dt.datetime) -> Session | None:
        """The session ``value`` holds for ``link_id`` at ``now``; None if forged or stale."""
        if not value:
            return None
        payload, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        parts = payload.split(".", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        if int(parts[0]) != link_id or now.timestamp() >= int(parts[1]):
            return None
        return Session(link_id, parts[2])
