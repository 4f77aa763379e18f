"""The call desk's request loop: the console asks on a Redis list, the desk carries it out.

The console holds no AMI right beyond pausing queue members, so what moves a
call (a transfer, a supervisor's ChanSpy, a recording's pause) is pushed as
JSON on a list the call desk pops (``campaigns.calls.service``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis import Redis

log = logging.getLogger(__name__)
POP_WAIT_S = 1  # how often the loop looks at ``stop`` while the list is empty


async def serve_requests(
    redis: Redis,
    key: str,
    stop: asyncio.Event,
    handle: Callable[[bytes | str], Awaitable[None]],
    *,
    refused: tuple[type[Exception], ...],
    what: str,
) -> None:
    """Pop ``key``'s requests and ``handle`` each until ``stop`` is set.

    A request ``handle`` refuses (one of ``refused``: malformed, no such call,
    AMI said no) is logged and the loop goes on: one bad request must not
    stop the desk.
    """
    while not stop.is_set():
        item = await asyncio.to_thread(redis.blpop, [key], POP_WAIT_S)
        if item is None:
            continue
        try:
            await handle(item[1])
        except refused as exc:
            log.warning("%s request not carried out: %s", what, exc)
