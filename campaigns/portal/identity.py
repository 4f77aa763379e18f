"""The portal's light identity check, with throttling.

Before anything about a debt is shown, the person holding the link answers
one question the campaign chose (``[portal] identity``): the last four
digits of a phone number on file, or the date one of their open accounts
was opened. ``max_failures`` wrong answers in a row lock the link for
``lock_minutes``; while locked even a right answer is refused, so the lock
cannot be used as an oracle. Each answer is a ``portal_uses`` row.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import Literal

import sqlalchemy as sa
from babel.dates import parse_date
from sqlalchemy.engine import Connection, Engine

from campaigns.portal.links import LINKS, log_use
from campaigns.portal.terms import holder, opened_dates, phones, terms_of

Verdict = Literal["ok", "wrong", "locked"]


def parse_day(text: str, locale: str) -> dt.date:
    """A date as ISO (``<input type=date>``) or as ``locale`` writes it; ValueError otherwise."""
    text = text.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parse_date(text, locale=locale)
    except (ValueError, IndexError):
        raise ValueError(f"{text!r} is not a date") from None


def check_identity(
    engine: Engine, link_id: int, answer: str, *, locale: str, now: dt.datetime
) -> Verdict:
    """Judge ``answer`` for link ``link_id``, counting failures; log it either way."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(LINKS.c.customer_id, LINKS.c.campaign, LINKS.c.locked_until).where(
                LINKS.c.id == link_id
            )
        ).one()
        if row.locked_until is not None and now < row.locked_until:
            log_use(conn, link_id, "check", "locked", now=now)
            return "locked"
        terms = terms_of(conn, row.campaign)
        right = _answers(conn, row.customer_id, terms.portal.identity, answer, locale)
        if right:
            conn.execute(
                sa.update(LINKS).where(LINKS.c.id == link_id).values(failures=0, locked_until=None)
            )
            log_use(conn, link_id, "check", "ok", now=now)
            return "ok"
        verdict = _count_failure(conn, link_id, terms.portal.max_failures, now,
                                 dt.timedelta(minutes=terms.portal.lock_minutes))  # fmt: skip
        return verdict


def _count_failure(
    conn: Connection, link_id: int, limit: int, now: dt.datetime, lock: dt.timedelta
) -> Verdict:
    """One more wrong answer; at ``limit`` in a row the link locks (and the count restarts)."""
    # Incremented in SQL: two wrong answers racing are both counted.
    conn.execute(
        sa.update(LINKS).where(LINKS.c.id == link_id).values(failures=LINKS.c.failures + 1)
    )
    failures = int(
        conn.execute(sa.select(LINKS.c.failures).where(LINKS.c.id == link_id)).scalar_one()
    )
    if failures < limit:
        log_use(conn, link_id, "check", "wrong", now=now, detail={"failures": failures})
        return "wrong"
    conn.execute(
        sa.update(LINKS).where(LINKS.c.id == link_id).values(failures=0, locked_until=now + lock)
    )
    log_use(conn, link_id, "check", "locked", now=now, detail={"failures": failures})
    return "locked"


def _answers(conn: Connection, customer_id: str, method: str, answer: str, locale: str) -> bool:
    """Whether ``answer`` is right for the customer under ``method``."""
    who = holder(conn, customer_id)
    if who is None:
        return False
    if method == "phone_last4":
        given = re.sub(r"\D", "", answer)
        if len(given) != 4:
            return False
        # Every number is compared, so the time taken says nothing of which matched.
        matches = [
            hmac.compare_digest(given, re.sub(r"\D", "", p)[-4:]) for p in phones(conn, who.pk)
        ]
        return any(matches)
    try:
        day = parse_day(answer, locale)
    except ValueError:
        return False
    return day in opened_dates(conn, who.pk)
