"""One dial session per run and slot: a lease in Redis, renewed while the session dials.

RQ runs a job once, but not only once under every failure: a worker whose
heartbeat lapses (a stalled host, a partition from Redis) has its job
re-enqueued while its process may still be dialing. Two sessions on one slot
would share its hopper and agents, each pacing as if alone, and abandoned
calls would climb past the legal limit (TSR's 3%, Reg F's safe harbour). So
a session dials only while it holds the slot's lease: a Redis key set with
``NX`` and a TTL, renewed every few seconds by its holder only. A session that
cannot renew stops placing calls well before its TTL could let another one in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
LEASE_TTL_S = 30.0
RENEW_EVERY_S = 5.0
# Stop dialing once renewals have failed this long: another session can take
# the lease only after LEASE_TTL_S, so this leaves a margin of 10 s.
GIVE_UP_AFTER_S = LEASE_TTL_S - 10.0
# A rerun waits this long for a lease held on another host: its holder may be
# dead, and then the lease lapses within LEASE_TTL_S.
ACQUIRE_WAIT_S = LEASE_TTL_S + 5.0

# Compare-and-act: only the holder may renew or release (a plain EXPIRE or DEL
# after the key expired and was taken would act on someone else's lease).
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"  # noqa: E501
_TAKE_OVER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return 0 end"  # noqa: E501
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"  # noqa: E501


def lease_key(run_id: int, slot: int) -> str:
    """The Redis key of run ``run_id``'s slot ``slot`` (next to its hopper's keys)."""
    return f"cadencia:dial-lease:run{run_id}:s{slot}"


class SlotLease:
    """The exclusive right to dial one slot, as long as it is renewed."""

    def __init__(self, redis: Redis, key: str, *, ttl_s: float = LEASE_TTL_S) -> None:
        self.redis, self.key, self.ttl_ms = redis, key, int(ttl_s * 1000)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, or if its holder is a dead process on this host.

        The second case is a worker killed and its job rerun at once (RQ's
        cleanup of a dead worker): waiting out the TTL would leave the calls
        it placed unwatched, and they may end before they are adopted.
        """
        if self.redis.set(self.key, self.holder, nx=True, px=self.ttl_ms):
            return True
        holder = self.current_holder()
        if holder is None or not _dead_here(holder):
            return False
        log.warning("lease %s: holder %s is dead; taking over", self.key, holder)
        return bool(self.redis.eval(_TAKE_OVER, 1, self.key, holder, self.holder, self.ttl_ms))

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (it expired, maybe taken)."""
        return bool(self.redis.eval(_RENEW, 1, self.key, self.holder, self.ttl_ms))

    def release(self) -> None:
        """Give the lease up if it is still ours."""
        self.redis.eval(_RELEASE, 1, self.key, self.holder)

    def current_holder(self) -> str | None:
        """Who holds the lease now (for messages), or None (nobody, or Redis did not say)."""
        try:
            value = self.redis.get(self.key)
        except RedisError:
            return None
        return value.decode() if isinstance(value, bytes) else value


def _dead_here(holder: str) -> bool:
    """True only for a holder on this host whose process no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's process cannot be checked: assume it lives
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user's
    return False


async def acquire_within(lease: SlotLease, wait_s: float, *, every_s: float = 1.0) -> bool:
    """``lease.acquire()``, retried for up to ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while not await asyncio.to_thread(lease.acquire):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(min(every_s, max(0.0, deadline - time.monotonic())))
    return True


async def keep_lease(
    lease: SlotLease,
    on_lost: Callable[[str], None],
    *,
    every_s: float = RENEW_EVERY_S,
    give_up_after_s: float = GIVE_UP_AFTER_S,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Renew ``lease`` every ``every_s`` until cancelled; call ``on_lost`` once and return
    when it is lost, or when Redis has refused renewals for ``give_up_after_s``."""
    last_renewed = clock()
    while True:
        await asyncio.sleep(every_s)
        try:
            renewed = await asyncio.to_thread(lease.renew)
        except RedisError as exc:
            silent = clock() - last_renewed
            if silent >= give_up_after_s:
                on_lost(f"lease {lease.key} not renewed for {silent:.0f} s (Redis: {exc})")
                return
            log.warning("lease %s not renewed (%s); retrying", lease.key, exc)
            continue
        if not renewed:
            on_lost(f"lease {lease.key} lost: now held by {lease.current_holder() or 'nobody'}")
            return
        last_renewed = clock()
