"""The call desk's half for transfers: carries out the console's requests, pops the new agent.

See ``campaigns.calls.transfer`` for what a transfer is. This module keeps
what it needs from AMI: each agent's bridged call (``AgentConnect``: the
caller's and the agent's channels), the transfers under way (by the
customer's channel, or by the consulting call's), the consultations under
way (by agent), and turns a request into ``BlindTransfer``, ``Atxfer``
(the consultation), ``Hangup`` of the consulting agent (which completes an
attended transfer) or ``CancelAtxfer``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.agents.events import AgentEvent, agent_call, publish_agent_event
from campaigns.calls.requests import serve_requests
from campaigns.calls.transfer import (
    TransferError,
    TransferRequest,
    consult_key,
    requests_key,
)
from campaigns.ledger.chain import EVENTS, LedgerEntry, append_now
from dialer.ami.client import AmiClient, AmiError
from dialer.ami.events import AgentComplete, AgentConnect, Hangup, UserEvent, typed_event
from dialer.ami.protocol import AmiEvent

log = logging.getLogger(__name__)
CONTEXT = "cadencia-transfer"
# Atxfer types its extension as DTMF: the consult context's one numeric extension
# reads the target queue from a channel variable (docker/asterisk/extensions.conf).
CONSULT_CONTEXT, CONSULT_EXTEN = "cadencia-consult", "1"
CONSULT_EVENT = "CadenciaConsult"


@dataclass(frozen=True)
class _Leg:
    """An agent's bridged call, as ``AgentConnect`` told it."""

    caller_uniqueid: str
    agent_channel: str


@dataclass
class _Handed:
    """A transfer under way: whose customer, from which attempt and agent, to which queue."""

    customer_id: str
    attempt_id: int | None
    from_agent: str
    request: TransferRequest
    agent: str | None = None  # who took it in the target queue


@dataclass
class TransferDesk:
    """Transfers on one Asterisk server: ``on_event`` for AMI, ``serve`` for the requests."""

    engine: Engine
    client: AmiClient
    redis: Redis
    namespace: str = "cadencia"
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _legs: dict[str, _Leg] = field(default_factory=dict)
    _handed: dict[str, _Handed] = field(default_factory=dict)  # by the customer's channel
    # attended transfers: the consulting agent's channel and the transfer, by agent
    _consults: dict[str, tuple[str, _Handed]] = field(default_factory=dict)

    async def on_event(self, raw: AmiEvent) -> None:
        """One AMI event (an ``AmiClient`` event handler)."""
        event = typed_event(raw)
        try:
            if isinstance(event, AgentConnect):
                await self._connected(event)
            elif isinstance(event, AgentComplete):
                await self._completed(event)
            elif isinstance(event, Hangup):
                self._hung_up(event)
            elif isinstance(event, UserEvent) and event.user_event == CONSULT_EVENT:
                self._consulting(event)
        except Exception:  # one bad call must not stop the desk
            log.exception("transfer: event %s not handled", type(event).__name__)

    def _hung_up(self, event: Hangup) -> None:
        """A customer who hung up before anyone took their transfer: nothing to pop."""
        handed = self._handed.get(event.uniqueid)
        if handed is not None and handed.agent is None:
            log.info("transfer of %s: the caller hung up first", event.uniqueid)
            del self._handed[event.uniqueid]

    async def serve(self, stop: asyncio.Event) -> None:
        """Carry out the console's requests until ``stop`` is set."""

        async def handle(raw: bytes | str) -> None:
            await self.transfer(TransferRequest.from_json(raw))

        await serve_requests(self.redis, requests_key(self.namespace), stop, handle,
                             refused=(TransferError, AmiError), what="transfer")  # fmt: skip

    async def transfer(self, request: TransferRequest) -> None:
        """Carry out ``request``; TransferError says why not."""
        if request.mode == "complete":
            await self._finish_consult(request.agent, complete=True)
            return
        if request.mode == "cancel":
            await self._finish_consult(request.agent, complete=False)
            return
        leg = self._legs.get(request.agent)
        if leg is None:
            raise TransferError(f"{request.agent} has no call to transfer")
        call = agent_call(self.redis, request.agent, namespace=self.namespace)
        if call.customer_id is None:
            raise TransferError(f"{request.agent}'s call has no customer attached")
        handed = _Handed(call.customer_id, call.attempt_id, request.agent, request)
        if request.mode == "attended":
            await self._consult(leg, handed)
            return
        self._handed[leg.caller_uniqueid] = handed
        await self.client.send_action(
            "BlindTransfer",
            [("Channel", leg.agent_channel), ("Context", CONTEXT), ("Exten", request.queue)],
        )
        log.info("%s transfer of %s's call to %s", request.mode, request.agent, request.queue)

    async def _consult(self, leg: _Leg, handed: _Handed) -> None:
        """Put the customer on hold and call the target queue from the agent's channel."""
        agent, queue = handed.from_agent, handed.request.queue
        for name, value in (("CADENCIA_TRANSFER_QUEUE", queue), ("CADENCIA_CONSULT_AGENT", agent)):
            # "__": the consulting call Atxfer creates inherits them.
            await self.client.send_action(
                "Setvar",
                [("Channel", leg.agent_channel), ("Variable", f"__{name}"), ("Value", value)],
            )
        self._consults[agent] = (leg.agent_channel, handed)
        await self.client.send_action(
            "Atxfer",
            [
                ("Channel", leg.agent_channel),
                ("Exten", CONSULT_EXTEN),
                ("Context", CONSULT_CONTEXT),
            ],
        )
        self._mark_consult(agent, queue)
        log.info("attended transfer: %s consults %s", agent, queue)

    async def _finish_consult(self, agent: str, *, complete: bool) -> None:
        """End ``agent``'s consultation: hand the customer over, or take them back."""
        found = self._consults.pop(agent, None)
        if found is None:
            raise TransferError(f"{agent} is not consulting anyone")
        channel, _ = found
        self._mark_consult(agent, None)
        if complete:
            # The transferer leaving completes an attended transfer (Asterisk's rule).
            await self.client.send_action("Hangup", [("Channel", channel)])
        else:
            await self.client.send_action("CancelAtxfer", [("Channel", channel)])
        log.info("attended transfer of %s: %s", agent, "completed" if complete else "cancelled")

    def _consulting(self, event: UserEvent) -> None:
        """The consulting call started: its channel carries the agent's customer now."""
        agent = event.get("Agent") or ""
        found = self._consults.get(agent)
        if found is not None:
            self._handed[event.uniqueid] = found[1]

    def _mark_consult(self, agent: str, queue: str | None) -> None:
        """Tell the console the agent is consulting ``queue`` (None: no longer)."""
        key = consult_key(agent, self.namespace)
        try:
            if queue is None:
                self.redis.delete(key)
            else:
                self.redis.set(key, queue, ex=3600)
        except Exception as exc:  # the console merely offers no complete/cancel
            log.warning("transfer: consult state of %s not stored: %s", agent, exc)

    async def _connected(self, event: AgentConnect) -> None:
        handed = self._handed.get(event.uniqueid)
        if handed is not None and handed.request.queue == event.queue:
            handed.agent = event.member_name
            self._publish("connect", handed)
        self._legs[event.member_name] = _Leg(event.uniqueid, event.dest_channel)

    async def _completed(self, event: AgentComplete) -> None:
        leg = self._legs.get(event.member_name)
        if leg is not None and leg.caller_uniqueid == event.uniqueid:
            del self._legs[event.member_name]
        handed = self._handed.get(event.uniqueid)
        if handed is None or handed.agent != event.member_name:
            return
        del self._handed[event.uniqueid]
        await asyncio.to_thread(self._record, event.uniqueid, handed, float(event.talk_time))
        self._publish("complete", handed)

    def _record(self, uniqueid: str, handed: _Handed, talk_s: float) -> None:
        """The transferred leg in the ledger: a leg of the attempt's call, not a new contact."""
        direction, debts = "outbound", ()
        if handed.attempt_id is not None:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(EVENTS.c.direction, EVENTS.c.debt_ids).where(
                        EVENTS.c.id == handed.attempt_id
                    )
                ).first()
            if row is not None:
                direction, debts = row.direction, tuple(json.loads(row.debt_ids or "[]"))
        entry = LedgerEntry(
            at=self.now(),
            customer_id=handed.customer_id,
            debt_ids=debts,
            channel="voice",
            direction=direction,
            kind="transfer",
            agent=handed.agent,
            duration_s=talk_s,
            extra={
                "attempt": handed.attempt_id,
                "from_agent": handed.from_agent,
                "queue": handed.request.queue,
                "mode": handed.request.mode,
            },
            idempotency_key=f"transfer:{uniqueid}:{handed.agent}",
        )
        append_now(self.engine, [entry], now=self.now())

    def _publish(self, kind: str, handed: _Handed) -> None:
        """The new agent's ``connect``/``complete`` with the same customer (logged on failure)."""
        assert handed.agent is not None
        event = AgentEvent(
            kind,
            handed.agent,
            self.now(),
            customer_id=handed.customer_id,
            attempt_id=handed.attempt_id,
        )
        try:
            publish_agent_event(self.redis, event, namespace=self.namespace)
        except Exception as exc:
            log.warning("transfer: %s for %s not published: %s", kind, handed.agent, exc)
