"""Accounts, passwords, sessions and CSRF tokens (log masking: ``campaigns.observability``).

Passwords are hashed with Argon2id (``argon2-cffi``, the reference
implementation's binding, OWASP's first choice). A session is a random token
in an HttpOnly cookie; the database keeps only its SHA-256. Each session has
its own CSRF token, which every state-changing request must echo (form field
``csrf`` or header ``X-CSRF-Token``): SameSite cookies alone do not stop a
same-site subdomain or an old browser. A session ends after ``IDLE_TIMEOUT``
unused and ``SESSION_LIFETIME`` after login. Failed logins are throttled
(a progressive delay per account, a limit per client address); every admin
action on an account is recorded in the admin log.
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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cadencia.console.i18n import Msg, msg
from campaigns.storage.accounts import ROLES, AdminAction, LoginThrottle, WebSession, WebUser
from campaigns.storage.models import UtcDateTime

SESSION_LIFETIME = dt.timedelta(hours=12)
# A session unused this long ends (OWASP Session Management: 15-30 minutes for
# low-risk applications; the console shows debtors' personal data).
IDLE_TIMEOUT = dt.timedelta(minutes=30)
# The last use is written at most this often, not on every request.
TOUCH_EVERY = dt.timedelta(minutes=1)
# Throttling password guessing (OWASP Authentication Cheat Sheet). Per
# account, a progressive delay, not a lock: after a few free failures each
# one doubles the wait before the next try, capped, so an outsider guessing
# at ``agent7`` slows the guessing without keeping agent7 out for more than
# the cap. Per client address, a hard limit within a window: a client locks
# only itself out. Failures are counted before the password is checked (a
# try is a failure until it succeeds), by single atomic statements.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
FREE_FAILURES_PER_ACCOUNT = 3
FIRST_DELAY = dt.timedelta(seconds=2)
MAX_DELAY = dt.timedelta(minutes=2)
MAX_FAILURES_PER_CLIENT = 20
_hasher = PasswordHasher()
# Verified when the user does not exist, so a login for an unknown name costs
# the same time as a wrong password and does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD = 10
# The admin log's actor for accounts made by ``cadencia users add``: not a
# valid username, so it cannot be mistaken for one.
COMMAND_LINE = "(command line)"


class AccountError(ValueError):
    """An account cannot be created as asked; ``message`` (a ``Msg``) says which field and why."""

    def __init__(self, message: Msg) -> None:
        super().__init__(str(message))
        self.message = message


class LoginThrottled(Exception):
    """Too many failed logins for this account or from this client: none is tried now.

    ``retry_after_s``: whole seconds (at least 1) until a login may be tried again.
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


def _check_role(role: str, agent_id: str | None, queue_interface: str | None) -> None:
    if role not in ROLES:
        raise AccountError(
            msg("Role %(role)s: choose one of %(roles)s.", role=role, roles=", ".join(ROLES))
        )
    if role == "agent" and not (agent_id and queue_interface):
        raise AccountError(
            msg(
                "An agent needs an agent id (the queue member's name) and a queue interface "
                "(the phone Asterisk rings)."
            )
        )
    # A manager may have a phone (the queue interface field): the one their
    # supervision rings to listen to an agent's call. Only agents take calls.
    if role != "agent" and (agent_id or (queue_interface and role != "manager")):
        raise AccountError(
            msg(
                "Only agents have an agent id and a queue interface: leave them empty for "
                "the %(role)s role.",
                role=role,
            )
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(msg("The password needs at least %(n)s characters.", n=MIN_PASSWORD))


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    *,
    now: dt.datetime,
    agent_id: str | None = None,
    queue_interface: str | None = None,
    actor: str = COMMAND_LINE,
) -> int:
    """Create an account; agents must name their queue member and its interface.

    The admin log records it as done by ``actor`` (a username, or the command line).
    """
    if not USERNAME.match(username):
        raise AccountError(
            msg(
                "Username %(username)s: use 2 to 80 characters: lower-case letters, digits, "
                "dot, underscore or hyphen.",
                username=username,
            )
        )
    _check_role(role, agent_id, queue_interface)
    _check_password(password)
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
            _record(conn, now, actor, "user_created", username, role)
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


def _account_delay(failures: int) -> dt.timedelta:
    """The wait before the next try after ``failures`` failures in the window."""
    if failures < FREE_FAILURES_PER_ACCOUNT:
        return dt.timedelta(0)
    doublings = min(failures - FREE_FAILURES_PER_ACCOUNT, 20)  # 2**20 s is past any cap
    return min(MAX_DELAY, FIRST_DELAY * 2**doublings)


def _reserve(conn: sa.Connection, key: str, now: dt.datetime) -> int | None:
    """Count one more try on ``key`` if it may be tried now: the failures so far, else None.

    One INSERT (the key's first try) or one UPDATE ... RETURNING whose WHERE
    admits the try: on PostgreSQL the row stays locked until commit and a
    parallel try re-reads ``next_allowed_at`` once it is released, so two
    parallel tries never pass on one count.
    """
    t = LoginThrottle
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert(t)
        .values(key=key, failures=0, window_start=now, next_allowed_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    # An account's count ends after a quiet window (a guesser at the capped
    # pace never gets the free tries back); a client's window is fixed from
    # its first failure.
    if key.startswith("account:"):
        stale = t.next_allowed_at <= now - THROTTLE_WINDOW
    else:
        stale = t.window_start <= now - THROTTLE_WINDOW
    at_now = sa.literal(now, UtcDateTime())
    row = conn.execute(
        sa.update(t)
        .where(t.key == key, t.next_allowed_at <= now)
        .values(
            failures=sa.case((stale, 1), else_=t.failures + 1),
            window_start=sa.case((stale, at_now), else_=t.window_start),
        )
        .returning(t.failures, t.window_start)
    ).first()
    if row is None:
        return None
    if key.startswith("account:"):
        after = now + _account_delay(row.failures)
    else:
        full = row.failures >= MAX_FAILURES_PER_CLIENT
        after = row.window_start + THROTTLE_WINDOW if full else now
    conn.execute(sa.update(t).where(t.key == key).values(next_allowed_at=after))
    return int(row.failures)


def _throttle(engine: Engine, username: str, client: str, now: dt.datetime) -> None:
    """Count this try against the client, then the account; raise if either must wait.

    The client first: a client over its limit does not add to the account's delay.
    """
    for key in (f"client:{client}", f"account:{username}"):
        with engine.begin() as conn:
            if _reserve(conn, key, now) is not None:
                continue
            until = conn.execute(
                sa.select(LoginThrottle.next_allowed_at).where(LoginThrottle.key == key)
            ).scalar()
        if until is None or until <= now:
            # Housekeeping (``_forgive``) deleted the key between our INSERT and
            # UPDATE: it had been quiet for a window, so its count was over anyway.
            continue
        raise LoginThrottled(f"too many failed logins for {key.split(':')[0]}", until - now)


def _forgive(conn: sa.Connection, username: str, client: str, now: dt.datetime) -> None:
    """A right password: the account's run of failures ends and the client's try is not one."""
    t = LoginThrottle
    conn.execute(sa.delete(t).where(t.key == f"account:{username}"))
    conn.execute(
        sa.update(t)
        .where(t.key == f"client:{client}", t.failures > 0)
        .values(
            failures=t.failures - 1,
            next_allowed_at=sa.case(
                (t.failures - 1 < MAX_FAILURES_PER_CLIENT, sa.literal(now, UtcDateTime())),
                else_=t.next_allowed_at,
            ),
        )
    )
    # Housekeeping: a key quiet for a whole window counts nothing any more.
    conn.execute(sa.delete(t).where(t.next_allowed_at <= now - THROTTLE_WINDOW))


def login(
    engine: Engine, username: str, password: str, *, now: dt.datetime, client: str = "unknown"
) -> str | None:
    """A new session token for a right username and password, else None.

    Raises ``LoginThrottled``, without looking at the password, while the
    account must wait (a progressive delay) or the client (its address) has
    too many recent failures.
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
        return None  # already counted by _throttle
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(WebSession).values(
                token_hash=_digest(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
                last_seen_at=now,
            )
        )
        conn.execute(sa.delete(WebSession).where(WebSession.expires_at < now))
        _forgive(conn, username, client, now)
    return token


def session_user(
    engine: Engine, token: str | None, *, now: dt.datetime, idle: dt.timedelta = IDLE_TIMEOUT
) -> CurrentUser | None:
    """The user of a live session token, or None (unknown, expired, idle, or deactivated).

    A session unused for ``idle`` ends (and is deleted); one in use is marked
    used at most every ``TOUCH_EVERY``, sparing a write per request.
    """
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
                sa.func.coalesce(WebSession.last_seen_at, WebSession.created_at).label("seen"),
                WebSession.id.label("session_id"),
                WebUser.language,
                WebUser.timezone,
            )
            .join(WebSession, WebSession.user_id == WebUser.id)
            .where(WebSession.token_hash == _digest(token))
        ).first()
    if row is None or row.expires_at <= now or not row.active:
        return None
    seen = row.seen
    if seen + idle <= now or now - seen >= TOUCH_EVERY:
        with engine.begin() as conn:
            session = WebSession.id == row.session_id
            if seen + idle <= now:
                conn.execute(sa.delete(WebSession).where(session))
                return None
            conn.execute(sa.update(WebSession).where(session).values(last_seen_at=now))
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


# Admin actions on accounts. Each runs in one transaction with its line in
# the admin log, so no action goes unrecorded and no record is of an action
# that failed. Deactivating, changing the role or setting a password ends
# every session of the account at once: whoever holds one must log in again,
# under the new terms.

ADMIN_ACTIONS = (
    "user_created",
    "deactivated",
    "reactivated",
    "role_changed",
    "password_reset",
    "sessions_revoked",
)


def _record(
    conn: sa.Connection, now: dt.datetime, actor: str, action: str, target: str, detail: str = ""
) -> None:
    assert action in ADMIN_ACTIONS, action
    conn.execute(
        sa.insert(AdminAction).values(
            at=now, actor=actor[:80], action=action, target=target[:80], detail=detail[:200]
        )
    )


def _target(conn: sa.Connection, username: str) -> sa.Row[int, str, bool]:
    row = conn.execute(
        sa.select(WebUser.id, WebUser.role, WebUser.active).where(WebUser.username == username)
    ).first()
    if row is None:
        raise AccountError(msg("There is no account %(username)s.", username=username))
    return row


def _not_self(actor: CurrentUser, username: str) -> None:
    # An admin who deactivates or demotes their own account could leave the
    # console with no admin at all; another admin must do it.
    if actor.username == username:
        raise AccountError(
            msg("You cannot deactivate your own account or change its role: ask another admin.")
        )


def _end_sessions(conn: sa.Connection, user_id: int) -> int:
    return int(conn.execute(sa.delete(WebSession).where(WebSession.user_id == user_id)).rowcount)


def set_active(
    engine: Engine, actor: CurrentUser, username: str, active: bool, *, now: dt.datetime
) -> None:
    """Deactivate (ending its sessions) or reactivate ``username``; recorded."""
    _not_self(actor, username)
    with engine.begin() as conn:
        target = _target(conn, username)
        if target.active == active:
            return  # nothing changes, nothing to record (a second click)
        conn.execute(sa.update(WebUser).where(WebUser.id == target.id).values(active=active))
        if not active:
            _end_sessions(conn, target.id)
        _record(conn, now, actor.username, "reactivated" if active else "deactivated", username)


def change_role(
    engine: Engine,
    actor: CurrentUser,
    username: str,
    role: str,
    *,
    now: dt.datetime,
    agent_id: str | None = None,
    queue_interface: str | None = None,
) -> None:
    """Give ``username`` another role (agents: with their queue member); ends its sessions."""
    _not_self(actor, username)
    _check_role(role, agent_id, queue_interface)
    try:
        with engine.begin() as conn:
            target = _target(conn, username)
            conn.execute(
                sa.update(WebUser)
                .where(WebUser.id == target.id)
                .values(role=role, agent_id=agent_id, queue_interface=queue_interface)
            )
            _end_sessions(conn, target.id)
            detail = f"{target.role} -> {role}"
            if agent_id:
                detail += f" ({agent_id}, {queue_interface})"
            _record(conn, now, actor.username, "role_changed", username, detail)
    except IntegrityError:
        raise AccountError(
            msg("The agent id %(agent)s is already taken.", agent=agent_id or "–")
        ) from None


def reset_password(
    engine: Engine, actor: CurrentUser, username: str, password: str, *, now: dt.datetime
) -> None:
    """Set a new password the admin chose for ``username``; ends its sessions; recorded."""
    _check_password(password)
    with engine.begin() as conn:
        target = _target(conn, username)
        conn.execute(
            sa.update(WebUser)
            .where(WebUser.id == target.id)
            .values(password_hash=hash_password(password))
        )
        _end_sessions(conn, target.id)
        # The account's delay ends too: the user will type the new password.
        conn.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == f"account:{username}"))
        _record(conn, now, actor.username, "password_reset", username)


def revoke_sessions(engine: Engine, actor: CurrentUser, username: str, *, now: dt.datetime) -> int:
    """End every session of ``username`` (logged out everywhere); recorded. How many ended."""
    with engine.begin() as conn:
        target = _target(conn, username)
        ended = _end_sessions(conn, target.id)
        _record(conn, now, actor.username, "sessions_revoked", username, str(ended))
    return ended


def admin_log(engine: Engine, *, limit: int = 500) -> list[sa.Row[tuple[object, ...]]]:
    """The latest admin actions, newest first."""
    a = AdminAction
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(a.at, a.actor, a.action, a.target, a.detail)
                .order_by(a.at.desc(), a.id.desc())
                .limit(limit)
            )
        )
