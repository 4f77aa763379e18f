"""One owner per customer: the agent who deals with them, every debt and every call.

A customer gets an owner at their first conversation: the agent of the
first ``conversation`` outcome in the ledger (the dial session's outcome sink
records it as it writes that outcome, and :func:`owner_of` falls back to the
ledger itself for conversations recorded elsewhere, such as a disposition
that settled its own attempt). A campaign rule or a supervisor may instead
assign one (:func:`assign_owner`), which replaces the owner; a first
conversation never does. Calls for an owned customer are offered to the
owner first (docs/routing.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from campaigns.ledger.chain import EVENTS
from campaigns.storage.models import CustomerOwner

OWNERS: sa.Table = CustomerOwner.__table__  # type: ignore[assignment]


def _first_conversation(conn: Connection, customer_id: str) -> Any:
    """The agent, attempt and time of the customer's first conversation with an agent."""
    outcome = EVENTS.alias("outcome")
    return conn.execute(
        sa.select(outcome.c.agent, outcome.c.resolves_id, outcome.c.at)
        .where(
            outcome.c.customer_id == customer_id,
            outcome.c.outcome == "conversation",
            outcome.c.agent.is_not(None),
        )
        .order_by(outcome.c.id)
        .limit(1)
    ).first()


def owner_of(engine: Engine, customer_id: str) -> str | None:
    """The customer's owner: the stored one, else the agent of their first conversation.

    A first conversation found in the ledger is stored, so the owner never
    changes when later conversations are with someone else.
    """
    with engine.connect() as conn:
        agent = conn.execute(
            sa.select(OWNERS.c.agent).where(OWNERS.c.customer_id == customer_id)
        ).scalar()
        if agent is not None:
            return str(agent)
        first = _first_conversation(conn, customer_id)
    if first is None:
        return None
    return claim_owner(engine, customer_id, str(first.agent), first.resolves_id, first.at)


def claim_owner(
    engine: Engine, customer_id: str, agent: str, attempt_id: int | None, at: dt.datetime
) -> str:
    """Make ``agent`` the owner unless the customer has one; returns the owner.

    Two writers racing (two sessions, a session and a page) both end with the
    first one's owner: the primary key lets one insert through.
    """
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(OWNERS).values(
                    customer_id=customer_id,
                    agent=agent,
                    source="conversation",
                    attempt_id=attempt_id,
                    since=at,
                )
            )
        return agent
    except IntegrityError:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    sa.select(OWNERS.c.agent).where(OWNERS.c.customer_id == customer_id)
                ).scalar_one()
            )


def record_conversation(engine: Engine, attempt_id: int, agent: str, at: dt.datetime) -> str:
    """A conversation of ``attempt_id`` with ``agent``: the customer's owner if they had none."""
    with engine.connect() as conn:
        customer = conn.execute(
            sa.select(EVENTS.c.customer_id).where(EVENTS.c.id == attempt_id)
        ).scalar()
    if customer is None:
        raise ValueError(f"attempt {attempt_id} is not in the ledger")
    with engine.connect() as conn:
        agent_now = conn.execute(
            sa.select(OWNERS.c.agent).where(OWNERS.c.customer_id == customer)
        ).scalar()
    if agent_now is not None:
        return str(agent_now)
    return claim_owner(engine, str(customer), agent, attempt_id, at)


def assign_owner(engine: Engine, customer_id: str, agent: str, *, now: dt.datetime) -> None:
    """Assign ``agent`` as the customer's owner (a campaign rule, a supervisor); replaces any."""
    with engine.begin() as conn:
        conn.execute(sa.delete(OWNERS).where(OWNERS.c.customer_id == customer_id))
        conn.execute(
            sa.insert(OWNERS).values(
                customer_id=customer_id, agent=agent, source="assigned", attempt_id=None, since=now
            )
        )
