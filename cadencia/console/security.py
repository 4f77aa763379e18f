"""Accounts, passwords, sessions and CSRF tokens (log masking: ``campaigns.observability``).

Passwords are hashed with Argon2id (``argon2-cffi``, the reference
implementation's binding, OWASP's first choice). A session is a random token
in an HttpOnly cookie; the database keeps only its SHA-256. Each session has
its own CSRF token, which every state-changing request must echo (form field
``csrf`` or header ``X-CSRF-Token``): SameSite cookies alone do not stop a
same-site subdomain or an old browser.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cadencia.console.i18n import Msg, msg
from campaigns.storage.accounts import ROLES, LoginFailure, WebSession, WebUser

SESSION_LIFETIME = dt.timedelta(hours=12)
# Throttling password guessing (OWASP Authentication Cheat Sheet): within a
# window, a few failures lock one account for the rest of it, and more from
# one client address lock that client out of every account. A lock is
# temporary, so a guesser cannot keep a real agent out for long.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20
_hasher = PasswordHasher()
# Verified when the user does not exist, so a login for an unknown name costs
# the same time as a wrong password and does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD = 10


class AccountError(ValueError):
    """An account cannot be created as asked; ``message`` (a ``Msg``) says which field and why."""

    def __init__(self, message: Msg) -> None:
        super().__init__(str(message))
        self.message = message


class LoginThrottled(Exception):
    """Too many failed logins for this account or from this client: none is tried now.

    ``retry_after_s``: whole seconds (at least 1) until the oldest counted
    failure leaves the window.
    """

    def __init__(self, why: str, retry_after: dt.timedelta) -> None:
        super().__init__(why)
        self.retry_after_s = max(1, int(retry_after.total_seconds()))


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user of a request."""

    id: int
    username: str
    role: str
    agent_id: str | None
    queue_interface: str | None
    csrf_token: str
    session_id: int
    language: str | None = None  # es, en or pt as chosen; None: the browser's
    timezone: str | None = None  # an IANA zone as chosen; None: UTC


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salt and parameters included)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    *,
    now: dt.datetime,
    agent_id: str | None = None,
    queue_interface: str | None = None,
) -> int:
    """Create an account; agents must name their queue member and its interface."""
    if not USERNAME.match(username):
        raise AccountError(
            msg(
                "Username %(username)s: use 2 to 80 characters: lower-case letters, digits, "
                "dot, underscore or hyphen.",
                username=username,
            )
        )
    if role not in ROLES:
        raise AccountError(
            msg("Role %(role)s: choose one of %(roles)s.", role=role, roles=", ".join(ROLES))
        )
    if len(password) < MIN_PASSWORD:
        raise AccountError(msg("The password needs at least %(n)s characters.", n=MIN_PASSWORD))
    if role == "agent" and not (agent_id and queue_interface):
        raise AccountError(
            msg(
                "An agent needs an agent id (the queue member's name) and a queue interface "
                "(the phone Asterisk rings)."
            )
        )
    if role != "agent" and (agent_id or queue_interface):
        raise AccountError(
            msg(
                "Only agents have an agent id and a queue interface: leave them empty for "
                "the %(role)s role.",
                role=role,
            )
        )
    try:
        with engine.begin() as conn:
            result = conn.execute(
                sa.insert(WebUser).values(
                    username=username,
                    password_hash=hash_password(password),
                    role=role,
                    agent_id=agent_id,
                    queue_interface=queue_interface,
                    active=True,
                    created_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
    except IntegrityError:
        raise AccountError(
            msg(
                "The username %(username)s or the agent id %(agent)s is already taken.",
                username=username,
                agent=agent_id or "–",
            )
        ) from None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _throttle(engine: Engine, username: str, client: str, now: dt.datetime) -> None:
    since = now - THROTTLE_WINDOW
    f = LoginFailure
    with engine.connect() as conn:
        for column, value, limit, what in (
            (f.username, username, MAX_FAILURES_PER_ACCOUNT, f"account {username!r}"),
            (f.client, client, MAX_FAILURES_PER_CLIENT, f"client {client}"),
        ):
            count, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(f.at)).where(column == value, f.at > since)
            ).one()
            if count >= limit:
                raise LoginThrottled(
                    f"{count} failed logins for {what} in the last "
                    f"{int(THROTTLE_WINDOW.total_seconds() // 60)} minutes",
                    oldest + THROTTLE_WINDOW - now,
                )


def login(
    engine: Engine, username: str, password: str, *, now: dt.datetime, client: str = "unknown"
) -> str | None:
    """A new session token for a right username and password, else None.

    Raises ``LoginThrottled``, without looking at the password, while the
    account or the client (its address) has too many recent failures.
    """
    username, client = username[:80], client[:64]
    _throttle(engine, username, client, now)
    with engine.connect() as conn:
        user = conn.execute(
            sa.select(WebUser.id, WebUser.password_hash, WebUser.active).where(
                WebUser.username == username
            )
        ).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        with engine.begin() as conn:
            conn.execute(sa.insert(LoginFailure).values(username=username, client=client, at=now))
            conn.execute(sa.delete(LoginFailure).where(LoginFailure.at <= now - THROTTLE_WINDOW))
        return None
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(WebSession).values(
                token_hash=_digest(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        conn.execute(sa.delete(WebSession).where(WebSession.expires_at < now))
        # The right password ends the account's run of failures.
        conn.execute(sa.delete(LoginFailure).where(LoginFailure.username == username))
    return token


def session_user(engine: Engine, token: str | None, *, now: dt.datetime) -> CurrentUser | None:
    """The user of a live session token, or None (unknown, expired, or deactivated)."""
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                WebUser.id,
                WebUser.username,
                WebUser.role,
                WebUser.agent_id,
                WebUser.queue_interface,
                WebUser.active,
                WebSession.csrf_token,
                WebSession.expires_at,
                WebSession.id.label("session_id"),
                WebUser.language,
                WebUser.timezone,
            )
            .join(WebSession, WebSession.user_id == WebUser.id)
            .where(WebSession.token_hash == _digest(token))
        ).first()
    if row is None or row.expires_at <= now or not row.active:
        return None
    return CurrentUser(
        row.id,
        row.username,
        row.role,
        row.agent_id,
        row.queue_interface,
        row.csrf_token,
        row.session_id,
        row.language,
        row.timezone,
    )


def set_preferences(
    engine: Engine, user_id: int, *, language: str | None = None, timezone: str | None = None
) -> None:
    """Store the user's language and/or time zone (None leaves that one as it is)."""
    values = {k: v for k, v in (("language", language), ("timezone", timezone)) if v is not None}
    if values:
        with engine.begin() as conn:
            conn.execute(sa.update(WebUser).where(WebUser.id == user_id).values(**values))


def logout(engine: Engine, token: str | None) -> None:
    """End the session of ``token`` (nothing if it is unknown)."""
    if token:
        with engine.begin() as conn:
            conn.execute(sa.delete(WebSession).where(WebSession.token_hash == _digest(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one sent."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
