"""Portal links: an opaque random reference per customer and campaign, its claims kept here.

A message's link is ``<base>/p/<reference>``; the reference is 32 random
bytes (``secrets.token_urlsafe``), so it reveals nothing and cannot be
guessed; who it is for, until when, and whether it was revoked live in
``portal_links``. A customer has one active link per campaign: the message
jobs create links in bulk for a whole batch (:func:`issue_links`: one SELECT,
one UPDATE and one INSERT per chunk of customers, never a query per message)
and reuse a link that has at least half its life left, so a retried job or a
second message the same day carries the same link. Every request on a
reference is logged (:func:`log_use`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.storage.portal import PortalLink, PortalUse
from campaigns.storage.sql import one_of

REFERENCE_BYTES = 32  # 256 bits of randomness; the brief's floor is 128
CHUNK = 1000
LINKS: sa.Table = PortalLink.__table__  # type: ignore[assignment]
USES: sa.Table = PortalUse.__table__  # type: ignore[assignment]


def new_reference() -> str:
    """A fresh opaque reference (43 URL-safe characters)."""
    return secrets.token_urlsafe(REFERENCE_BYTES)


def link_url(base: str, reference: str) -> str:
    """The address a message carries: ``<base>/p/<reference>``."""
    return f"{base.rstrip('/')}/p/{reference}"


def issue_links(
    conn: Connection,
    customer_ids: Sequence[str],
    campaign: str,
    *,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> dict[str, str]:
    """The active reference of each customer for ``campaign``, created where needed.

    A link with less than half of ``ttl`` left is revoked (``replaced``) and a
    new one issued, so a message never carries a link about to die. Call
    inside a transaction.
    """
    wanted = list(dict.fromkeys(customer_ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update(_reusable(conn, chunk, campaign, now + ttl / 2))
        missing = [c for c in chunk if c not in found]
        if not missing:
            continue
        conn.execute(
            sa.update(LINKS)
            .where(
                one_of(LINKS.c.customer_id, missing, conn.dialect.name),
                LINKS.c.campaign == campaign,
                LINKS.c.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason="replaced")
        )
        fresh = {c: new_reference() for c in missing}
        # One multi-row INSERT statement for the chunk, not one per message.
        conn.execute(
            sa.insert(LINKS).values(
                [
                    {
                        "reference": ref,
                        "customer_id": c,
                        "campaign": campaign,
                        "created_at": now,
                        "expires_at": now + ttl,
                        "failures": 0,
                    }
                    for c, ref in fresh.items()
                ]
            )
        )
        found.update(fresh)
    return found


def _reusable(
    conn: Connection, customers: list[str], campaign: str, lives_past: dt.datetime
) -> dict[str, str]:
    rows = conn.execute(
        sa.select(LINKS.c.customer_id, LINKS.c.reference)
        .where(
            one_of(LINKS.c.customer_id, customers, conn.dialect.name),
            LINKS.c.campaign == campaign,
            LINKS.c.revoked_at.is_(None),
            LINKS.c.expires_at > lives_past,
        )
        .order_by(LINKS.c.id)
    )
    return {str(r.customer_id): str(r.reference) for r in rows}


@dataclass(frozen=True)
class Link:
    """A live link: who it is for, and its identity check's state."""

    id: int
    customer_id: str
    campaign: str
    expires_at: dt.datetime
    failures: int
    locked_until: dt.datetime | None

    def locked(self, now: dt.datetime) -> bool:
        """Whether too many wrong answers lock it at ``now``."""
        return self.locked_until is not None and now < self.locked_until


def live_link(conn: Connection, reference: str, now: dt.datetime) -> Link | None:
    """The link ``reference`` names if it is known, unexpired and not revoked; else None.

    Every cause of None is the same to the caller on purpose: the page shown
    for a bad link must not tell a guesser which references exist.
    """
    if not reference or len(reference) > 64:
        return None
    row = conn.execute(sa.select(LINKS).where(LINKS.c.reference == reference)).first()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    return Link(
        int(row.id), row.customer_id, row.campaign, row.expires_at, row.failures, row.locked_until
    )


def known_link_id(conn: Connection, reference: str) -> int | None:
    """The id of the link ``reference`` names, live or not (for the use log only)."""
    if not reference or len(reference) > 64:
        return None
    found = conn.execute(sa.select(LINKS.c.id).where(LINKS.c.reference == reference)).scalar()
    return None if found is None else int(found)


def log_use(
    conn: Connection,
    link_id: int | None,
    action: str,
    result: str,
    *,
    now: dt.datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One ``portal_uses`` row; a known link's ``last_used_at`` moves to ``now``."""
    conn.execute(
        sa.insert(USES).values(
            link_id=link_id,
            at=now,
            action=action,
            result=result,
            detail=json.dumps(dict(detail), sort_keys=True) if detail else None,
        )
    )
    if link_id is not None:
        conn.execute(sa.update(LINKS).where(LINKS.c.id == link_id).values(last_used_at=now))


def revoke(engine: Engine, reference: str, *, now: dt.datetime, reason: str) -> bool:
    """Revoke the link ``reference``; False when there was no such active link."""
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(LINKS)
            .where(LINKS.c.reference == reference, LINKS.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason[:80])
        ).rowcount
        if done:
            log_use(conn, known_link_id(conn, reference), "revoke", "ok", now=now,
                    detail={"reason": reason[:80]})  # fmt: skip
    return bool(done)


def revoke_customer(
    engine: Engine, customer_id: str, *, now: dt.datetime, reason: str, campaign: str | None = None
) -> int:
    """Revoke every active link of ``customer_id`` (of one campaign if given); how many."""
    query = sa.update(LINKS).where(LINKS.c.customer_id == customer_id, LINKS.c.revoked_at.is_(None))
    if campaign is not None:
        query = query.where(LINKS.c.campaign == campaign)
    with engine.begin() as conn:
        return int(conn.execute(query.values(revoked_at=now, revoked_reason=reason[:80])).rowcount)


@dataclass(frozen=True)
class LinkRow:
    """One link as an operator lists it: never its reference (the reference is the key)."""

    id: int
    campaign: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    last_used_at: dt.datetime | None
    failures: int
    locked_until: dt.datetime | None

    def state(self, now: dt.datetime) -> str:
        """active, locked, expired or revoked, at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.locked_until is not None and self.locked_until > now:
            return "locked"
        return "active"


def links_of(conn: Connection, customer_id: str, campaign: str | None = None) -> list[LinkRow]:
    """Every link issued to ``customer_id`` (of one campaign if given), newest first."""
    query = sa.select(
        LINKS.c.id, LINKS.c.campaign, LINKS.c.created_at, LINKS.c.expires_at,
        LINKS.c.revoked_at, LINKS.c.revoked_reason, LINKS.c.last_used_at,
        LINKS.c.failures, LINKS.c.locked_until,
    ).where(LINKS.c.customer_id == customer_id)  # fmt: skip
    if campaign is not None:
        query = query.where(LINKS.c.campaign == campaign)
    rows = conn.execute(query.order_by(LINKS.c.created_at.desc(), LINKS.c.id.desc())).all()
    return [LinkRow(*row) for row in rows]


def revoke_id(engine: Engine, link_id: int, *, now: dt.datetime, reason: str) -> bool:
    """Revoke the link with id ``link_id`` (as ``links_of`` lists it); False if not active."""
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(LINKS)
            .where(LINKS.c.id == link_id, LINKS.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason[:80])
        ).rowcount
        if done:
            log_use(conn, link_id, "revoke", "ok", now=now, detail={"reason": reason[:80]})
    return bool(done)
