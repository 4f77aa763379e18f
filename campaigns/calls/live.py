"""What is happening on the phones right now, for the supervisor's wallboard.

The processes that follow the calls write it; the console only reads:

* each campaign's dial session, once a second: calls ringing at the
  debtors' end (originated, not yet answered or in AMD), answered calls
  waiting in the queue for an agent, the longest wait, and the leads left
  in the slot's hopper (``campaigns.dialing.job``);
* the call desk, once a second: inbound callers waiting for an agent and
  the longest wait (``campaigns.calls.service``).

Each is one Redis hash that expires after ``LIVE_TTL_S``: a process that
stops (a slot ended, a desk died) drops off the wallboard by itself instead
of showing its last figures as if they were live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis import Redis

LIVE_EVERY_S = 1.0
LIVE_TTL_S = 10


@dataclass(frozen=True)
class LiveQueue:
    """One source's calls now: ``source`` is ``dial`` (a campaign) or ``inbound`` (a queue)."""

    source: str
    name: str  # the campaign (dial) or the queue (inbound)
    ringing: int  # outbound calls ringing or in AMD
    waiting: int  # answered or inbound callers waiting for an agent
    longest_wait_s: float
    leads_left: int | None  # the dial slot's hopper; None for inbound
    updated_at: dt.datetime

    def fields(self) -> dict[Any, Any]:
        """The Redis hash."""
        return {
            "ringing": str(self.ringing),
            "waiting": str(self.waiting),
            "longest_wait_s": f"{self.longest_wait_s:.1f}",
            "leads_left": "" if self.leads_left is None else str(self.leads_left),
            "updated_at": self.updated_at.isoformat(),
        }


def live_key(namespace: str, source: str, name: str) -> str:
    """The hash of one source (``<namespace>:live:<source>:<name>``)."""
    return f"{namespace}:live:{source}:{name}"


def publish_live(redis: Redis, namespace: str, live: LiveQueue) -> None:
    """Write one source's figures; they vanish ``LIVE_TTL_S`` after the last write."""
    key = live_key(namespace, live.source, live.name)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(key)
    pipe.hset(key, mapping=live.fields())
    pipe.expire(key, LIVE_TTL_S)
    pipe.execute()


def read_live(redis: Redis, namespace: str, source: str, names: Iterable[str]) -> list[LiveQueue]:
    """The live figures of ``names`` that are being written now (others are absent)."""
    wanted = list(dict.fromkeys(names))
    pipe = redis.pipeline(transaction=False)
    for name in wanted:
        pipe.hgetall(live_key(namespace, source, name))
    found: list[LiveQueue] = []
    for name, raw in zip(wanted, pipe.execute(), strict=True):
        if not raw:
            continue
        text = {k.decode(): v.decode() for k, v in raw.items()}
        found.append(
            LiveQueue(
                source=source,
                name=name,
                ringing=int(text.get("ringing") or 0),
                waiting=int(text.get("waiting") or 0),
                longest_wait_s=float(text.get("longest_wait_s") or 0.0),
                leads_left=int(text["leads_left"]) if text.get("leads_left") else None,
                updated_at=dt.datetime.fromisoformat(text["updated_at"]),
            )
        )
    return found


def inbound_queues(redis: Redis, namespace: str) -> list[str]:
    """The inbound queues whose desk is writing now (a desk serves one queue)."""
    prefix = live_key(namespace, "inbound", "")
    return sorted(
        key.decode()[len(prefix) :] for key in redis.scan_iter(match=f"{prefix}*", count=100)
    )
