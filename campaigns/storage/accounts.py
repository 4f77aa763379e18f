"""The web console's tables: user accounts, login sessions, login throttling, the admin
log, callbacks.

Defined on ``campaigns.storage.models.Base`` so ``Base.metadata`` describes the whole
schema; migration 0004 creates them (0016: throttling counters, the admin log, the
sessions' last use).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.storage.models import Base, UtcDateTime

ROLES = ("agent", "manager", "compliance", "admin")


class WebUser(Base):
    """A person who logs in. Agents are bound to one Asterisk queue member."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(12))  # agent | manager | compliance | admin
    # The queue member's name (AgentConnect's MemberName) and its interface
    # (what QueuePause names): ``agent7`` and ``Local/agent7@agents/n``.
    agent_id: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    queue_interface: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The console's language (es, en, pt) and time zone (an IANA name), as the
    # user chose them at login or on the profile page; NULL: not chosen
    # (migration 0014).
    language: Mapped[str | None] = mapped_column(sa.String(8))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))


class WebSession(Base):
    """A login. Only the SHA-256 of the cookie's token is stored: a leaked table logs no one in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("web_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The last request made with it, for the idle timeout (NULL: created_at; migration 0016).
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Failed logins of one account or one client address within a window (migration 0016).

    One row per key (``account:<username>`` or ``client:<address>``), changed by
    single atomic statements so parallel logins cannot share one count.
    """

    __tablename__ = "web_login_throttle"

    key: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer)
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # No login is tried on this key before this instant.
    next_allowed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AdminAction(Base):
    """What an admin did to an account: who, when, what, on whom (migration 0016).

    Usernames, not ids, so the record reads the same after an account changes.
    """

    __tablename__ = "web_admin_log"
    __table_args__ = (sa.Index("ix_web_admin_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(sa.String(80))
    # user_created | deactivated | reactivated | role_changed | password_reset | sessions_revoked
    action: Mapped[str] = mapped_column(sa.String(24))
    target: Mapped[str] = mapped_column(sa.String(80))
    detail: Mapped[str] = mapped_column(sa.String(200))  # e.g. "agent -> manager"; may be ""


class Callback(Base):
    """A callback the debtor asked for, at a time the compliance rules allowed."""

    __tablename__ = "web_callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    agent: Mapped[str] = mapped_column(sa.String(80))
    campaign: Mapped[str | None] = mapped_column(sa.String(80))
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10))  # scheduled | done | cancelled
    rules: Mapped[str] = mapped_column(sa.Text)  # JSON: the decision that allowed it
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Disposition(Base):
    """What an agent recorded at the end of a call: the wrap-up, one row per save."""

    __tablename__ = "web_dispositions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    agent: Mapped[str] = mapped_column(sa.String(80), index=True)
    attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    run_id: Mapped[int | None] = mapped_column(sa.Integer)
    campaign: Mapped[str | None] = mapped_column(sa.String(80))
    party: Mapped[str] = mapped_column(sa.String(12))  # right | wrong_party | wrong_number
    result: Mapped[str] = mapped_column(sa.String(12))  # promise|refusal|dispute|callback|none
    promise_id: Mapped[int | None] = mapped_column(sa.Integer)
    callback_id: Mapped[int | None] = mapped_column(sa.Integer)
    saved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
