"""Agent ↔ call events over Redis: the contract between whoever places calls and the console.

Who publishes what (nothing else publishes, tests included):

* the dial session (``campaigns.dialing.agent_calls``), the manual dial job
  (``campaigns.dialing.manual``) and the inbound desk (``campaigns.calls``):
  ``connect`` when a call reaches the agent, ``complete`` when that
  conversation ends (after its outcome is in the ledger), and, for a call the
  agent asked for that reached nobody (busy, no answer…), ``unreached``;
* the console: the agent's ``state`` (ready, paused, the end of wrap-up when
  a disposition is saved) and ``open``, when the agent opens a customer's
  record from the desktop (a search, or the next customer of a preview
  campaign) without a call.

They go on the pub/sub channel ``cadencia:agent-events``, one JSON object per event::

    {"type": "connect", "agent": "agent7", "customer_id": "C1", "attempt_id": 123,
     "run_id": 4, "campaign": "co-tarjetas", "at": "2026-11-23T14:00:00+00:00"}
    {"type": "complete", "agent": "agent7", ...same fields...}
    {"type": "open", "agent": "agent7", "customer_id": "C1", "run_id": 4,
     "campaign": "co-tarjetas", "planned_id": 88, "at": ...}
    {"type": "unreached", "agent": "agent7", ...the fields of connect...}
    {"type": "state", "agent": "agent7",
     "state": "ready|paused|talking|wrap|ringing|preview|logged_out", "reason": "break", "at": ...}

An inbound call (``campaigns.calls``) carries ``caller``, the calling
number; from a number no customer has (or several share), ``connect`` and
``complete`` carry ``caller`` and no ``customer_id``.
``planned_id`` (optional) names the planned contact of a preview campaign the
customer came from: a call then uses its guard key, a skip its row.
``open`` and ``unreached`` leave the agent in state ``preview``: a customer
attached, no call up; the agent may dial one of the customer's numbers,
record a disposition, or (preview) skip. Opening a record is not a contact:
it writes nothing to the ledger.

``publish_agent_event`` also keeps each agent's current state in the hash
``cadencia:agent:<agent>`` (in the same MULTI as the PUBLISH), because
pub/sub forgets: a page opened after the connect must still find the call,
and the dashboard must show agents' states without having watched every event.
A ``namespace`` other than ``cadencia`` moves both the channel and the
hashes (``<ns>:agent-events``, ``<ns>:agent:<agent>``), for two consoles
sharing one Redis, or tests sharing one with other test runs; the dial jobs
and the console take it from ``CADENCIA_AGENT_NAMESPACE``.
The customer stays attached to the agent until the disposition is saved
(``end_wrap``): wrap-up ends there, not when the line drops.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass
from typing import Any

import redis
import redis.asyncio as aredis

NAMESPACE = "cadencia"
CHANNEL = "cadencia:agent-events"
STATE_PREFIX = "cadencia:agent:"
log = logging.getLogger(__name__)
TYPES = ("connect", "complete", "open", "unreached", "state")
# The types that attach a customer to the agent, and the state each leaves them in.
ATTACHING = {"connect": "talking", "open": "preview", "unreached": "preview"}
STATES = ("ready", "paused", "talking", "wrap", "ringing", "preview", "logged_out")
CALL_FIELDS = ("customer_id", "attempt_id", "run_id", "campaign", "planned_id", "caller")
# An inbound call from a number nobody in the portfolio has connects with the
# caller's number and no customer: the desktop shows a search for it.
CALLER_ONLY = ("connect", "complete")


class AgentEventError(ValueError):
    """A malformed agent event; the message names the field."""


@dataclass(frozen=True)
class AgentEvent:
    """One agent event. ``connect``/``complete``/``open``/``unreached`` carry the customer;
    ``state`` carries ``state``."""

    type: str
    agent: str
    at: dt.datetime
    customer_id: str | None = None
    attempt_id: int | None = None
    run_id: int | None = None
    campaign: str | None = None
    planned_id: int | None = None
    state: str | None = None
    reason: str | None = None
    caller: str | None = None  # an inbound call's number

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise AgentEventError(f"agent event type {self.type!r}: expected one of {TYPES}")
        if not self.agent:
            raise AgentEventError("agent event: 'agent' is empty")
        if self.at.tzinfo is None:
            raise AgentEventError(f"agent event 'at' {self.at.isoformat()}: needs an offset")
        unknown_caller = self.type in CALLER_ONLY and bool(self.caller)
        if self.type != "state" and not self.customer_id and not unknown_caller:
            raise AgentEventError(f"agent event {self.type}: 'customer_id' is required")
        if self.type == "state" and self.state not in STATES:
            raise AgentEventError(f"agent event state {self.state!r}: expected one of {STATES}")

    def to_json(self) -> str:
        """The wire form (keys with no value left out)."""
        doc = {k: v for k, v in asdict(self).items() if v is not None}
        doc["at"] = self.at.isoformat()
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> AgentEvent:
        """Parse the wire form; raises ``AgentEventError`` naming the bad field."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AgentEventError(f"agent event: not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise AgentEventError("agent event: expected a JSON object")
        unknown = sorted(set(doc) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise AgentEventError(f"agent event: unknown fields {unknown}")
        try:
            at = dt.datetime.fromisoformat(str(doc.pop("at")))
        except (KeyError, ValueError) as exc:
            raise AgentEventError(f"agent event 'at': missing or not ISO 8601 ({exc})") from None
        for name in ("attempt_id", "run_id", "planned_id"):
            if doc.get(name) is not None and not isinstance(doc[name], int):
                raise AgentEventError(f"agent event {name!r}: expected an integer")
        try:
            return cls(at=at, **doc)
        except TypeError as exc:
            raise AgentEventError(f"agent event: {exc}") from None


def channel_of(namespace: str) -> str:
    """The pub/sub channel of ``namespace``."""
    return f"{namespace}:agent-events"


def _key(namespace: str, agent: str) -> str:
    return f"{namespace}:agent:{agent}"


def _state_update(event: AgentEvent) -> tuple[dict[Any, Any], list[str]]:
    """Fields to set and to delete in the agent's state hash for ``event``."""
    fields: dict[Any, Any] = {"at": event.at.isoformat()}
    drop: list[str] = []
    if event.type in ATTACHING:
        # The event's customer replaces any other: a field it leaves out is cleared.
        fields["state"] = ATTACHING[event.type]
        for name in CALL_FIELDS:
            value = getattr(event, name)
            if value is None:
                drop.append(name)
            else:
                fields[name] = str(value)
        drop.append("reason")
    elif event.type == "complete":
        fields["state"] = "wrap"
    else:
        assert event.state is not None
        fields["state"] = event.state
        if event.reason:
            fields["reason"] = event.reason
        else:
            drop.append("reason")
    return fields, drop


def publish_agent_event(
    client: redis.Redis, event: AgentEvent, *, namespace: str = NAMESPACE
) -> None:
    """Record ``event`` in the agent's state hash and publish it, atomically (sync client)."""
    fields, drop = _state_update(event)
    key = _key(namespace, event.agent)
    pipe = client.pipeline(transaction=True)
    if drop:
        pipe.hdel(key, *drop)
    pipe.hset(key, mapping=fields)
    pipe.publish(channel_of(namespace), event.to_json())
    pipe.execute()


async def apublish_agent_event(
    client: aredis.Redis, event: AgentEvent, *, namespace: str = NAMESPACE
) -> None:
    """``publish_agent_event`` for an asyncio Redis client."""
    fields, drop = _state_update(event)
    key = _key(namespace, event.agent)
    pipe = client.pipeline(transaction=True)
    if drop:
        pipe.hdel(key, *drop)
    pipe.hset(key, mapping=fields)
    pipe.publish(channel_of(namespace), event.to_json())
    await pipe.execute()


def _decode(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in raw.items()
    }


@dataclass(frozen=True)
class AgentCall:
    """An agent's current state and, from connect or open to the saved disposition, its customer."""

    agent: str
    state: str
    at: str | None
    reason: str | None = None
    customer_id: str | None = None
    attempt_id: int | None = None
    run_id: int | None = None
    campaign: str | None = None
    planned_id: int | None = None
    caller: str | None = None  # an inbound call's number


def _call_of(agent: str, doc: dict[str, str]) -> AgentCall:
    return AgentCall(
        agent=agent,
        state=doc.get("state", "logged_out"),
        at=doc.get("at"),
        reason=doc.get("reason"),
        customer_id=doc.get("customer_id"),
        attempt_id=int(doc["attempt_id"]) if doc.get("attempt_id") else None,
        run_id=int(doc["run_id"]) if doc.get("run_id") else None,
        campaign=doc.get("campaign"),
        planned_id=int(doc["planned_id"]) if doc.get("planned_id") else None,
        caller=doc.get("caller"),
    )


def agent_call(client: redis.Redis, agent: str, *, namespace: str = NAMESPACE) -> AgentCall:
    """The agent's current state and call (``logged_out`` if never seen)."""
    return _call_of(agent, _decode(client.hgetall(_key(namespace, agent))))


def agent_board(client: redis.Redis, *, namespace: str = NAMESPACE) -> list[AgentCall]:
    """Every agent with a state, by name."""
    out = []
    prefix = _key(namespace, "")
    for key in client.scan_iter(match=prefix + "*", count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        agent = name[len(prefix) :]
        out.append(_call_of(agent, _decode(client.hgetall(name))))
    return sorted(out, key=lambda c: c.agent)


def end_wrap(
    client: redis.Redis,
    agent: str,
    *,
    state: str,
    now: dt.datetime,
    reason: str | None = None,
    namespace: str = NAMESPACE,
) -> None:
    """The disposition is saved: detach the customer and publish the agent's next state."""
    client.hdel(_key(namespace, agent), *CALL_FIELDS)
    publish_agent_event(
        client, AgentEvent("state", agent, now, state=state, reason=reason), namespace=namespace
    )


async def subscribe_agent_events(
    redis_url: str, *, namespace: str = NAMESPACE
) -> AsyncGenerator[AgentEvent, None]:
    """Every event published in ``namespace`` from now on; malformed ones are logged, skipped."""
    channel = channel_of(namespace)
    client = aredis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                event = AgentEvent.from_json(message["data"])
            except AgentEventError as exc:
                log.warning("skipped a malformed agent event on %s: %s", channel, exc)
                continue
            yield event
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()
        await client.aclose()
