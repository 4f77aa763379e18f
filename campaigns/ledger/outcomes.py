"""Recording what happened after a reserved attempt: one appended row per outcome."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS, LedgerEntry, append
from compliance.model import MESSAGE_OUTCOMES, VOICE_OUTCOMES


class UnknownAttempt(LookupError):
    """No pending attempt has that id."""


def record_outcome(
    engine: Engine,
    attempt_id: int,
    outcome: str,
    *,
    at: dt.datetime,
    now: dt.datetime,
    agent: str | None = None,
    duration_s: float | None = None,
    extra: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> int:
    """Append the outcome of attempt ``attempt_id``; returns the outcome row's id.

    The same ``idempotency_key`` (default: attempt and outcome) is written once,
    so a webhook or AMI event delivered twice is recorded once.
    """
    allowed = None
    with engine.begin() as conn:
        attempt = conn.execute(
            sa.select(EVENTS).where(
                EVENTS.c.id == attempt_id, EVENTS.c.kind == "attempt", EVENTS.c.status == "pending"
            )
        ).first()
        if attempt is None:
            raise UnknownAttempt(f"attempt {attempt_id} is not a pending attempt in the ledger")
        allowed = VOICE_OUTCOMES if attempt.channel == "voice" else MESSAGE_OUTCOMES
        if outcome not in allowed:
            raise ValueError(
                f"outcome {outcome!r} is not one of {'|'.join(allowed)} ({attempt.channel})"
            )
        entry = LedgerEntry(
            at=at,
            customer_id=attempt.customer_id,
            debt_ids=tuple(json.loads(attempt.debt_ids)),
            channel=attempt.channel,
            direction=attempt.direction,
            kind="attempt",
            outcome=outcome,
            status="final",
            resolves_id=attempt_id,
            contact_point=attempt.contact_point,
            line_type=attempt.line_type,
            campaign=attempt.campaign,
            agent=agent,
            duration_s=duration_s,
            extra=dict(extra or {}),
            idempotency_key=idempotency_key or f"outcome:{attempt_id}:{outcome}",
        )
        (row_id,) = append(conn, [entry], now=now)
    return row_id
