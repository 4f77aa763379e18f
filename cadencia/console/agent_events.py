"""The console's one subscription to agent events: fan-out to open pages, wrap-up holds."""

from __future__ import annotations

import asyncio
import logging

import redis
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from cadencia.console.deps import WebContext
from cadencia.console.pbx import PbxUnavailable, queue_pause
from campaigns.agents.events import subscribe_agent_events
from campaigns.storage.accounts import WebUser

log = logging.getLogger(__name__)


def _interface_of(ctx: WebContext, agent: str) -> str | None:
    with ctx.engine.connect() as conn:
        value = conn.execute(
            sa.select(WebUser.queue_interface).where(WebUser.agent_id == agent)
        ).scalar()
    return None if value is None else str(value)


async def hold_for_wrap_up(ctx: WebContext, agent: str) -> None:
    """Pause the member when its call ends, so no call reaches it before its disposition.

    Asterisk's own ``wrapuptime`` is a fixed number of seconds; ours lasts
    exactly until the agent saves (the desktop unpauses then).
    """
    if ctx.ami is None:
        return
    try:
        interface = await asyncio.to_thread(_interface_of, ctx, agent)
        if interface is not None:
            await queue_pause(ctx.ami, interface, paused=True, reason="wrap-up")
    except (PbxUnavailable, SQLAlchemyError) as exc:
        log.error("agent %s: wrap-up pause failed: %s", agent, exc)


async def pump_agent_events(ctx: WebContext) -> None:
    """Forward agent events from Redis to the open pages; resubscribe after a Redis outage.

    The wrap-up pause runs as a task of its own: a slow Asterisk must not hold
    back the next screen pop.
    """
    holds: set[asyncio.Task[None]] = set()
    while True:
        try:
            async for event in subscribe_agent_events(ctx.redis_url, namespace=ctx.namespace):
                ctx.hub.deliver(event)
                if event.type == "complete":
                    task = asyncio.create_task(hold_for_wrap_up(ctx, event.agent))
                    holds.add(task)
                    task.add_done_callback(holds.discard)
        except (OSError, redis.RedisError) as exc:
            log.warning("agent events: Redis subscription lost (%s); retrying in 1 s", exc)
        await asyncio.sleep(1.0)
