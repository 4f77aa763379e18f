"""The inbound desk: routes calls to the company number, writes them to the ledger, pops them.

It follows four AMI events for the inbound queue (``DeskSettings.queue``):

* ``UserEvent(CadenciaInbound)`` from ``[cadencia-inbound]``: identify the
  caller, then ``Setvar`` the call's customer and, for a customer whose owner
  is a member of the inbound queue, the owner-first variables
  (``AmiPbx.owner_variables``, docs/routing.md), and ``CADENCIA_ROUTED`` last:
  the dialplan waits for it (``INBOUND_ROUTE_WAIT``) and queues the call
  without an owner if it does not come.
* ``AgentConnect``: the call reached an agent. A known customer's inbound
  attempt is appended to the ledger (pending, key ``inbound:<uniqueid>``:
  an event delivered twice writes once), then ``connect`` is published: the
  console pops the customer, or the number and a search for an unknown one.
* ``AgentComplete``: the conversation's outcome (``conversation``, with the
  agent and the talk time) and ``complete`` (the agent's wrap-up).
* ``QueueCallerAbandon``: the caller hung up waiting; a known customer's
  attempt gets ``abandoned``. Inbound rows are ``direction = inbound``: the
  outbound abandon rate (the pacer's budget, the compliance audit) counts
  outbound calls only.

Regulation F counts an inbound conversation in a debt's 7-day cooldown
(12 CFR 1006.14(b)(2)(i)(B)); the rule packs read it from these rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.agents.events import AgentEvent, publish_agent_event
from campaigns.agents.owners import owner_of, record_conversation
from campaigns.calls.caller import Caller, identify
from campaigns.calls.live import LiveQueue
from campaigns.dialing.pbx import AmiPbx
from campaigns.ledger.chain import LedgerEntry, append_now
from campaigns.ledger.outcomes import UnknownAttempt, record_outcome
from campaigns.observability import mask_phone
from dialer.ami.client import AmiClient, AmiError
from dialer.ami.events import (
    AgentComplete,
    AgentConnect,
    Hangup,
    QueueCallerAbandon,
    UserEvent,
    typed_event,
)
from dialer.ami.protocol import AmiEvent

log = logging.getLogger(__name__)
ROUTE_EVENT = "CadenciaInbound"


@dataclass
class _Call:
    """One inbound call the desk routed, until it ends."""

    caller: Caller
    arrived: dt.datetime
    attempt_id: int | None = None
    agent: str | None = None


@dataclass
class InboundDesk:
    """Handles the inbound queue's AMI events (``on_event``) for one Asterisk server."""

    engine: Engine
    client: AmiClient
    redis: Redis
    queue: str
    region: str
    namespace: str = "cadencia"
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _calls: dict[str, _Call] = field(default_factory=dict)

    async def on_event(self, raw: AmiEvent) -> None:
        """One AMI event (an ``AmiClient`` event handler)."""
        event = typed_event(raw)
        try:
            if isinstance(event, UserEvent) and event.user_event == ROUTE_EVENT:
                await self._route(event)
            elif isinstance(event, AgentConnect) and event.queue == self.queue:
                await self._connected(event)
            elif isinstance(event, AgentComplete) and event.queue == self.queue:
                await self._completed(event)
            elif isinstance(event, QueueCallerAbandon) and event.queue == self.queue:
                await self._abandoned(event)
            elif isinstance(event, Hangup):
                await self._hung_up(event)
        except Exception:  # one bad call must not stop the desk
            log.exception("inbound: event %s not handled", type(event).__name__)

    def live(self) -> LiveQueue:
        """Inbound callers routed and not yet with an agent, for the wallboard."""
        now = self.now()
        waits = [(now - c.arrived).total_seconds() for c in self._calls.values() if c.agent is None]
        return LiveQueue("inbound", self.queue, 0, len(waits), max(waits, default=0.0), None, now)

    async def _route(self, event: UserEvent) -> None:
        """Identify the caller and give the dialplan the call's customer and owner."""
        caller = await asyncio.to_thread(
            identify, self.engine, event.get("Caller") or "", self.region
        )
        self._calls[event.uniqueid] = _Call(caller, self.now())
        variables: dict[str, str] = {}
        if caller.customer_id is not None:
            variables["CADENCIA_CUSTOMER"] = caller.customer_id
            owner = await asyncio.to_thread(owner_of, self.engine, caller.customer_id)
            if owner:
                variables.update(await AmiPbx(self.client, self.queue).owner_variables(owner))
        variables["CADENCIA_ROUTED"] = "1"  # last: the dialplan goes on when it sees it
        try:
            for name, value in variables.items():
                await self.client.send_action(
                    "Setvar", [("Channel", event.channel), ("Variable", name), ("Value", value)]
                )
        except AmiError as exc:  # the dialplan's wait runs out: queued for anyone
            log.warning("inbound %s: route not set: %s", event.uniqueid, exc)
        log.info(
            "inbound %s from %s: %s",
            event.uniqueid,
            mask_phone(caller.number),
            caller.customer_id or f"unknown caller ({caller.matches} matches)",
        )

    async def _connected(self, event: AgentConnect) -> None:
        call = self._calls.get(event.uniqueid)
        if call is None:
            return  # not routed by this desk (it started before the desk did)
        call.agent = event.member_name
        if call.caller.customer_id is not None:
            call.attempt_id = await asyncio.to_thread(self._attempt, event.uniqueid, call)
        self._publish("connect", call)

    async def _completed(self, event: AgentComplete) -> None:
        call = self._calls.pop(event.uniqueid, None)
        if call is None:
            return
        try:
            if call.attempt_id is not None:
                await asyncio.to_thread(
                    self._outcome, call, "conversation", float(event.talk_time), event.member_name
                )
        finally:  # the agent's wrap-up starts even if the ledger could not be written
            self._publish("complete", call)

    async def _abandoned(self, event: QueueCallerAbandon) -> None:
        call = self._calls.pop(event.uniqueid, None)
        if call is None:
            return
        log.info("inbound %s abandoned after %s s in queue", event.uniqueid, event.hold_time)
        if call.caller.customer_id is None:
            return
        call.attempt_id = await asyncio.to_thread(self._attempt, event.uniqueid, call)
        await asyncio.to_thread(self._outcome, call, "abandoned", 0.0, None)

    async def _hung_up(self, event: Hangup) -> None:
        """A routed caller gone before any agent answered (the queue's wait ran out too)."""
        call = self._calls.get(event.uniqueid)
        if call is None or call.agent is not None:
            return  # a conversation ends with AgentComplete
        del self._calls[event.uniqueid]
        if call.caller.customer_id is not None:
            call.attempt_id = await asyncio.to_thread(self._attempt, event.uniqueid, call)
            await asyncio.to_thread(self._outcome, call, "abandoned", 0.0, None)

    def _attempt(self, uniqueid: str, call: _Call) -> int:
        """The inbound attempt row (pending until its outcome), once per call."""
        assert call.caller.customer_id is not None
        entry = LedgerEntry(
            at=call.arrived,
            customer_id=call.caller.customer_id,
            debt_ids=call.caller.debt_ids,
            channel="voice",
            direction="inbound",
            kind="attempt",
            status="pending",
            contact_point=call.caller.number,
            extra={"queue": self.queue, "uniqueid": uniqueid},
            idempotency_key=f"inbound:{uniqueid}",
        )
        (attempt_id,) = append_now(self.engine, [entry], now=self.now())
        return attempt_id

    def _outcome(self, call: _Call, outcome: str, talk_s: float, agent: str | None) -> None:
        assert call.attempt_id is not None
        now = self.now()
        try:
            record_outcome(
                self.engine,
                call.attempt_id,
                outcome,
                at=now,
                now=now,
                agent=agent,
                duration_s=talk_s if outcome == "conversation" else None,
            )
        except UnknownAttempt:  # settled already (an event delivered twice)
            return
        if outcome == "conversation" and agent:
            record_conversation(self.engine, call.attempt_id, agent, now)

    def _publish(self, kind: str, call: _Call) -> None:
        """The agent's ``connect``/``complete`` (a Redis failure is logged: the call goes on)."""
        if call.agent is None:
            return
        event = AgentEvent(
            kind,
            call.agent,
            self.now(),
            customer_id=call.caller.customer_id,
            attempt_id=call.attempt_id,
            caller=call.caller.number,
        )
        try:
            publish_agent_event(self.redis, event, namespace=self.namespace)
        except Exception as exc:
            log.warning("inbound: %s for %s not published: %s", kind, call.agent, exc)
