"""The manual dial job: a dial worker places the call the agent asked for and follows it.

``manual_dial_job(payload)`` (RQ) rebuilds its settings from the worker's
environment, like the dial-session job, and places one call agent first:
Originate on the agent's queue interface (their phone auto-answers) into the
dialplan context ``cadencia-manual`` (docker/asterisk/extensions.conf), which
then dials the customer's number (``CADENCIA_DIAL``, the channel template of
the dial session) for the campaign's ring timeout. The customer hears a
person the moment they answer: no AMD, no queue, no abandoned call.

What it learns from AMI, all keyed by the ChannelId ``<prefix>-a<attempt>``:
``OriginateResponse`` (the agent's phone did not answer: the customer was
never dialed, the attempt ``failed``), ``DialEnd`` (the customer answered, or
busy / no answer / congestion), then the ``Hangup`` that ends the
conversation. The outcome goes to the ledger (``record_outcome``), then the
agent's events (``campaigns.agents.events``): ``connect`` when the customer
answers, ``complete`` once the conversation's outcome is recorded, or
``unreached`` when the call reached nobody, which leaves the customer attached
so the agent may try another number.

Never dialed twice: the job runs once per attempt (its RQ id) and claims the
attempt in Redis before the Originate; a rerun finding the claim, or an
attempt already settled, places nothing. A job that waited longer than
``STALE_S`` for a worker records the attempt ``failed`` undialed (the agent
has moved on). If AMI drops mid-call, the attempt stays visibly pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.agents.events import AgentEvent, publish_agent_event
from campaigns.dialing.manual import ManualDial, run_of
from campaigns.dialing.pbx import dial_fields
from campaigns.ledger.chain import EVENTS
from campaigns.ledger.outcomes import record_outcome
from campaigns.recordings.policy import recording_variables
from campaigns.run.stored import campaign_of
from campaigns.settings import DialerSettings, Settings
from campaigns.storage.db import make_engine
from dialer.ami import AmiClient, AmiError, AmiEvent, ConnectionChange, OriginateOutcomeUnknown
from dialer.session import call_id_for

log = logging.getLogger(__name__)
CONTEXT = "cadencia-manual"
STALE_S = 60.0  # an agent does not wait longer than this for their call
AGENT_ANSWER_S = 20.0  # the agent's phone auto-answers; past this it is not there
# Dial()'s DIALSTATUS for a customer who did not answer, as a ledger outcome.
DIAL_STATUS_OUTCOME = {
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "no_answer",  # rang, and the agent hung up first
    "CONGESTION": "not_in_service",
    "CHANUNAVAIL": "failed",
}


@dataclass
class ManualReport:
    """What one manual dial did."""

    attempt_id: int
    outcome: str | None = None
    dialed: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(vars(self))


def manual_dial_job(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: place the agent's call and record its outcome; returns the report."""
    settings = Settings.load()
    dial = ManualDial.from_payload(payload)
    report = asyncio.run(run_manual_dial(settings.dialer(), dial))
    log.info("manual dial attempt %s: %s", dial.attempt_id, report.as_dict())
    return report.as_dict()


async def run_manual_dial(settings: DialerSettings, dial: ManualDial) -> ManualReport:
    """Place ``dial`` in this process (the job's body), unless it is settled, claimed or stale."""
    engine = make_engine(settings.database_url)
    redis = redis_lib.Redis.from_url(settings.redis_url)
    report = ManualReport(dial.attempt_id)
    try:
        number = _pending_number(engine, dial.attempt_id)
        if number is None:
            report.note = "already settled: nothing dialed"
            return report
        claim = f"{settings.agent_namespace}:manual-dial:a{dial.attempt_id}"
        if not redis.set(claim, "1", nx=True, ex=24 * 3600):
            report.note = "claimed by an earlier run: left as it is, not re-dialed"
            return report
        if _stale(dial):
            why = f"not dialed: no dial worker took the call within {STALE_S:.0f} s"
            await _settle(engine, redis, settings, dial, report, "failed", {"why": why})
            return report
        await _place(engine, redis, settings, dial, number, report)
        return report
    finally:
        redis.close()
        engine.dispose()


def _pending_number(engine: Engine, attempt_id: int) -> str | None:
    """The attempt's number while it is pending without an outcome, else None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(EVENTS.c.contact_point, EVENTS.c.status).where(EVENTS.c.id == attempt_id)
        ).first()
        settled = conn.execute(
            sa.select(sa.func.count()).where(EVENTS.c.resolves_id == attempt_id)
        ).scalar_one()
    if row is None or row.status != "pending" or settled or not row.contact_point:
        return None
    return str(row.contact_point)


def _stale(dial: ManualDial) -> bool:
    if dial.queued_at is None:
        return False
    waited = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(dial.queued_at)
    return waited.total_seconds() > STALE_S


async def _place(
    engine: Engine,
    redis: redis_lib.Redis,
    settings: DialerSettings,
    dial: ManualDial,
    number: str,
    report: ManualReport,
) -> None:
    """Originate agent first and follow the call to its outcome."""
    campaign = campaign_of(run_of(engine, dial.run_id))
    voice = campaign.channels.get("voice")
    call = _Follower(call_id_for(dial.attempt_id, settings.call_prefix))
    client = AmiClient(
        settings.ami_host,
        settings.ami_port,
        settings.ami_username,
        settings.ami_secret,
        connect_timeout=5.0,
        ping_interval=2.0,
        ping_timeout=2.0,
    )
    client.add_event_handler(call.on_event)
    client.add_connection_handler(call.on_connection)
    variables = {
        **recording_variables(campaign.recording),
        **dict(settings.dial_variables),
        "CADENCIA_ATTEMPT": str(dial.attempt_id),
        "CADENCIA_DIAL": settings.channel_template.format(**dial_fields(number)),
        "CADENCIA_RING": str(max(1, int(campaign.dialer.ring_timeout_s))),
    }
    try:
        async with client:
            # An answer lost in transit: the call may be up, and its events still
            # tell how it ends, so it is followed like any other.
            with contextlib.suppress(OriginateOutcomeUnknown):
                await client.originate(
                    dial.interface,
                    channel_id=call.call_id,
                    other_channel_id=f"{call.call_id}-agent",
                    context=CONTEXT,
                    exten="s",
                    ring_timeout=AGENT_ANSWER_S,
                    caller_id=voice.sender if voice is not None else None,
                    variables=variables,
                )
            report.dialed = True
            await _follow(engine, redis, settings, dial, call, report)
    except (AmiError, OSError, ValueError) as exc:
        if report.dialed:
            report.note = f"AMI lost mid-call ({exc}): the attempt stays pending"
            log.error("manual dial attempt %s: %s", dial.attempt_id, report.note)
            return
        why = f"not dialed: {type(exc).__name__}: {exc}"
        await _settle(engine, redis, settings, dial, report, "failed", {"why": why})


async def _follow(
    engine: Engine,
    redis: redis_lib.Redis,
    settings: DialerSettings,
    dial: ManualDial,
    call: _Follower,
    report: ManualReport,
) -> None:
    """Publish the connect when the customer answers; record the outcome when it is known."""
    answered = asyncio.ensure_future(call.answered.wait())
    ended = asyncio.ensure_future(call.ended.wait())
    await asyncio.wait([answered, ended], return_when=asyncio.FIRST_COMPLETED)
    if call.answered.is_set():
        _publish(redis, settings, dial, "connect", call.answered_at)
        await ended
    answered.cancel()
    if call.outcome is None:
        report.note = call.note or "the call ended and no event says how: left pending"
        log.warning("manual dial attempt %s: %s", dial.attempt_id, report.note)
        return
    await _settle(engine, redis, settings, dial, report, call.outcome, call.extra, call.talk_s)


async def _settle(
    engine: Engine,
    redis: redis_lib.Redis,
    settings: DialerSettings,
    dial: ManualDial,
    report: ManualReport,
    outcome: str,
    extra: Mapping[str, Any],
    talk_s: float | None = None,
) -> None:
    """The outcome into the ledger first, then the agent's event (best effort)."""
    now = dt.datetime.now(dt.UTC)
    agent = dial.agent if outcome == "conversation" else None
    await asyncio.to_thread(
        record_outcome,
        engine,
        dial.attempt_id,
        outcome,
        at=now,
        now=now,
        agent=agent,
        duration_s=talk_s,
        extra={"dialer": "manual", **extra},
    )
    report.outcome, report.extra = outcome, dict(extra)
    kind = "complete" if outcome == "conversation" else "unreached"
    _publish(redis, settings, dial, kind, now)


def _publish(
    redis: redis_lib.Redis,
    settings: DialerSettings,
    dial: ManualDial,
    kind: str,
    at: dt.datetime | None,
) -> None:
    """Tell the console; a Redis failure costs a refresh of the desktop, never the outcome."""
    event = AgentEvent(
        kind,
        dial.agent,
        at or dt.datetime.now(dt.UTC),
        customer_id=dial.customer_id,
        attempt_id=dial.attempt_id,
        run_id=dial.run_id,
        campaign=dial.campaign,
        planned_id=dial.planned_id,
    )
    try:
        publish_agent_event(redis, event, namespace=settings.agent_namespace)
    except redis_lib.RedisError as exc:
        log.error("manual dial attempt %s: %s not published: %s", dial.attempt_id, kind, exc)


class _Follower:
    """One manual call's AMI events, reduced to: answered when, ended how."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()
        self.answered_at: dt.datetime | None = None
        self.outcome: str | None = None
        self.extra: dict[str, Any] = {}
        self.talk_s: float | None = None
        self.note = ""

    async def on_event(self, event: AmiEvent) -> None:
        """Every AMI event; only this call's matter."""
        if event.get("Uniqueid") != self.call_id or self.ended.is_set():
            return
        name = event.name.lower()
        if name == "originateresponse" and (event.get("Response") or "").lower() != "success":
            reason = event.get("Reason") or ""
            why = "the agent's phone did not answer: the customer was not dialed"
            self._end("failed", {"why": why, "originate_reason": reason})
        elif name == "dialend":
            status = (event.get("DialStatus") or "").upper()
            if status == "ANSWER":
                self.answered_at = dt.datetime.now(dt.UTC)
                self.answered.set()
            else:
                self._end(DIAL_STATUS_OUTCOME.get(status, "failed"), {"dial_status": status})
        elif name == "hangup":
            if self.answered_at is not None:
                self.talk_s = (dt.datetime.now(dt.UTC) - self.answered_at).total_seconds()
                self._end("conversation", {})
            else:
                why = "the agent's line ended before the customer was dialed"
                self._end("failed", {"why": why, "cause": event.get("Cause") or ""})

    async def on_connection(self, change: ConnectionChange) -> None:
        """A lost AMI link: nobody can say how the call ends, so it stays pending."""
        if not change.connected and not self.ended.is_set():
            self.note = "AMI connection lost during the call: the attempt stays pending"
            self.ended.set()

    def _end(self, outcome: str, extra: dict[str, Any]) -> None:
        self.outcome, self.extra = outcome, extra
        self.ended.set()
