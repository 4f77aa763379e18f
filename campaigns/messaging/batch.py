"""Carrying out one batch of planned messages: render → guard → pending row → provider → outcome.

Exactly-once by construction, not by luck:

* The guard reserves every message under its plan key (one call per batch);
  the pending attempt row exists before any provider call.
* A message whose key was reserved before (a retried or recovered job) is
  skipped if its attempt has an outcome; if it is still pending, the previous
  run may have died between reserving and sending or between sending and
  recording. It is resent only when that run recorded it as provably not
  sent (a refused request, kept in the job's meta) or the provider says it has
  no such message; if the provider cannot say, it stays pending and is listed
  as ambiguous for an operator: never sent twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from campaigns.clock import Clock
from campaigns.ledger.chain import EVENTS, LedgerEntry, append, existing_keys, lock_ledger
from campaigns.ledger.guard import (
    ContactRequest,
    DecisionRecord,
    GuardResult,
    guard_and_reserve,
    record_decisions,
)
from campaigns.messaging.context import Target, load_targets, packs_for
from campaigns.messaging.hours import next_allowed, only_hours_refused, seconds_left
from campaigns.messaging.outcomes import latest_outcomes, regresses
from campaigns.messaging.plan import MessageBatch, PlannedMessage
from campaigns.messaging.reconcile import Reconciler
from campaigns.portal.links import issue_links
from campaigns.settings import MessagingSettings, Senders
from campaigns.storage.sql import one_of
from channels import (
    EmailMessage,
    RenderedMessage,
    RenderRequest,
    SendGridTransport,
    SendReport,
    TemplateCatalog,
    TemplateError,
    TextMessage,
    TransportError,
    TwilioTransport,
)
from channels.context import LANGUAGES
from channels.links import build_link
from compliance import Pack, Proposal, load_packs
from compliance.model import AUTODIALED_BY_DEFAULT

log = logging.getLogger(__name__)
JOB_RULE = "cadencia-message-job"
JOB_CITATION = "Cadencia message delivery (campaigns.messaging)"
TEXT_CHUNK = 100  # texts sent and recorded per step: a crash leaves at most this many to reconcile


class LedgerUnavailable(RuntimeError):
    """The guard could not read or write the ledger: nothing was sent; retry the job."""


@dataclass
class BatchReport:
    """What one run of a batch did, message by message counted."""

    batch_id: str
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    refused: int = 0
    rescheduled: int = 0
    already_done: int = 0
    reconciled: int = 0
    retry_later: int = 0
    ambiguous: list[int] = field(default_factory=list)
    provider_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the RQ job's result)."""
        return dict(vars(self))


@dataclass
class Runtime:
    """A worker process's long-lived wiring: engine, templates, transports, reconciler."""

    settings: MessagingSettings
    engine: Engine
    catalog: TemplateCatalog
    reconciler: Reconciler
    sendgrid: SendGridTransport | None = None
    twilio: TwilioTransport | None = None
    # The shared clock: the wall clock, or a compressed day (campaigns.clock).
    clock: Clock = field(default_factory=Clock)
    _packs: dict[tuple[str, ...], tuple[Pack, ...]] = field(default_factory=dict)

    def packs(self, names: tuple[str, ...]) -> tuple[Pack, ...]:
        """Loaded packs by names, cached for the life of the process."""
        if names not in self._packs:
            self._packs[names] = load_packs(names)
        return self._packs[names]


@dataclass(slots=True)
class _ReadyMessage:
    """A planned message rendered for its debtor; ``attempt_id`` is set once reserved."""

    message: PlannedMessage
    target: Target
    packs: tuple[Pack, ...]
    rendered: RenderedMessage
    attempt_id: int = 0


@dataclass(frozen=True, slots=True)
class _Note:
    """Why one message was not sent, for the guard's decision log."""

    key: str
    customer_id: str
    attempt_id: int | None
    reason: str


class _Outcome(NamedTuple):
    """One outcome row for ``record_outcomes``: still a tuple, as its public signature takes."""

    attempt_id: int
    outcome: str
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The batch's messages split into those ready for the guard and those dropped (noted)."""

    ready: list[_ReadyMessage]
    dropped: list[_Note]


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A message refused only for the hour: it goes out again in a batch of its own at ``at``."""

    item: _ReadyMessage
    at: dt.datetime


@dataclass(slots=True)
class _Triage:
    """Where the guard's verdicts send each message, filled by ``_triage``."""

    to_send: list[_ReadyMessage] = field(default_factory=list)
    deferred: list[_Deferred] = field(default_factory=list)
    reconciled: list[_Outcome] = field(default_factory=list)
    # Attempts this very run reserved, whose pending rows hold exactly these fields.
    reserved: dict[int, Proposal] = field(default_factory=dict)
    notes: list[_Note] = field(default_factory=list)
    already_done: int = 0
    refused: int = 0
    ambiguous: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Delivery:
    """What sending the triaged messages to the provider came to, filled by ``_deliver``."""

    sent: int = 0
    failed: int = 0
    provider_requests: int = 0
    ambiguous: list[int] = field(default_factory=list)
    retry: set[int] = field(default_factory=set)
    notes: list[_Note] = field(default_factory=list)


Reschedule = Callable[[MessageBatch, dt.datetime], None]


def _job_refusal(reason: str) -> str:
    """The decision log's rules column for a message the job itself did not send."""
    return json.dumps([{"rule": JOB_RULE, "citation": JOB_CITATION, "ok": False, "detail": reason}])


def _record_notes(
    engine: Engine, batch: MessageBatch, now: dt.datetime, notes: Sequence[_Note]
) -> None:
    """Record why messages were not sent, as refusals by the job's own rule."""
    if not notes:
        return
    with engine.begin() as conn:
        record_decisions(
            conn,
            [
                DecisionRecord(
                    now,
                    n.key,
                    n.customer_id,
                    batch.channel,
                    False,
                    n.attempt_id,
                    _job_refusal(n.reason),
                )
                for n in notes
            ],
        )


def _portal_links(
    rt: Runtime, batch: MessageBatch, targets: Mapping[str, Target], now: dt.datetime
) -> dict[str, str]:
    """The portal link of every debtor of the batch, when links are configured.

    The link carries an opaque reference whose claims stay in the database
    (``campaigns.portal.links``), created for the whole batch at once.
    """
    settings = rt.settings.channels.payment_link
    reachable = [c for c, t in targets.items() if t.point is not None]
    if settings is None or not reachable:
        return {}
    with rt.engine.begin() as conn:
        references = issue_links(
            conn,
            reachable,
            batch.campaign,
            now=now,
            ttl=dt.timedelta(hours=settings.ttl_hours),
        )
    return {c: build_link(settings.url_pattern, ref) for c, ref in references.items()}


def _render(
    rt: Runtime,
    batch: MessageBatch,
    target: Target,
    packs: tuple[Pack, ...],
    link: str | None,
) -> RenderedMessage:
    """The message in the debtor's language, with payment and opt-out links when configured."""
    settings = rt.settings
    opt_out = None
    if settings.opt_out_url:
        opt_out = settings.opt_out_url.format(customer=target.customer_id, channel=batch.channel)
    language = target.language[:2].lower()
    if language not in LANGUAGES:
        raise TemplateError(
            f"customer {target.customer_id} speaks {target.language!r}; templates exist for "
            f"{', '.join(LANGUAGES)}",
            template=f"{batch.campaign}/{language}",
        )
    return rt.catalog.render(
        RenderRequest(
            campaign=batch.campaign,
            language=language,
            channel=batch.channel,
            customer=target.view,
            us_opt_out=any(p.name.startswith("us-") for p in packs),
            payment_link=link,
            opt_out_url=opt_out,
        )
    )


def _prepare(rt: Runtime, batch: MessageBatch, now: dt.datetime) -> _Prepared:
    """Load every debtor's context and render each message; note those that cannot go."""
    with rt.engine.connect() as conn:
        targets = load_targets(conn, [m.customer_id for m in batch.messages], batch.channel)
    links = _portal_links(rt, batch, targets, now)
    ready: list[_ReadyMessage] = []
    dropped: list[_Note] = []
    for m in batch.messages:
        target = targets.get(m.customer_id)
        if target is None:
            dropped.append(
                _Note(m.key, m.customer_id, None, f"customer {m.customer_id} not in the portfolio")
            )
            continue
        if target.point is None:
            dropped.append(
                _Note(m.key, m.customer_id, None, f"no usable contact point: {target.unusable}")
            )
            continue
        names = batch.packs or packs_for(target.country, target.subdivision)
        if not names:
            dropped.append(
                _Note(
                    m.key, m.customer_id, None, f"no rule pack covers {target.country}: fail closed"
                )
            )
            continue
        packs = rt.packs(tuple(names))
        try:
            rendered = _render(rt, batch, target, packs, links.get(target.customer_id))
        except TemplateError as exc:
            dropped.append(_Note(m.key, m.customer_id, None, f"cannot render: {exc}"))
            continue
        ready.append(_ReadyMessage(m, target, packs, rendered))
    return _Prepared(ready, dropped)


def _settled(engine: Engine, attempt_ids: Iterable[int]) -> set[int]:
    """Those of ``attempt_ids`` that already have an outcome row."""
    ids = list(attempt_ids)
    if not ids:
        return set()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS.c.resolves_id)
            .where(one_of(EVENTS.c.resolves_id, ids, conn.dialect.name))
            .distinct()
        )
        return {int(r[0]) for r in rows}


class _AttemptFacts(NamedTuple):
    """What an outcome row copies from its attempt."""

    customer_id: str
    debt_ids: tuple[str, ...]
    channel: str
    direction: str
    contact_point: str | None
    line_type: str | None
    campaign: str | None


def record_outcomes(
    engine: Engine,
    outcomes: Sequence[tuple[int, str, dict[str, Any]]],
    *,
    now: dt.datetime,
    reserved: Mapping[int, Proposal] | None = None,
) -> None:
    """Append (attempt id, outcome, extra) rows in one transaction.

    The same rows ``campaigns.ledger.record_outcome`` writes (same idempotency
    key ``outcome:<attempt>:<outcome>``), batched: one ledger lock and one
    insert for a whole provider request instead of one per message. An
    outcome that would move an attempt backwards is skipped. ``reserved``:
    the proposals this very run reserved attempts for, whose pending rows
    hold exactly their fields; any other attempt is read back from the ledger.
    """
    if not outcomes:
        return
    with engine.begin() as conn:
        lock_ledger(conn)
        ids = [a for a, _, _ in outcomes]
        attempts = _attempt_facts(conn, ids, reserved or {})
        current = latest_outcomes(conn, ids)
        entries = [
            _outcome_entry(attempt_id, outcome, extra, attempts[attempt_id], now)
            for attempt_id, outcome, extra in outcomes
            # A regressing outcome is skipped: the provider's webhook already told us more.
            if not regresses(current.get(attempt_id), outcome)
        ]
        append(conn, entries, now=now)


def _attempt_facts(
    conn: Connection, ids: Sequence[int], reserved: Mapping[int, Proposal]
) -> dict[int, _AttemptFacts]:
    """What each attempt's outcome row copies: from ``reserved`` if there, else from the ledger."""
    attempts = {
        aid: _AttemptFacts(
            p.customer_id, p.debt_ids, p.channel, "outbound",
            p.contact_point, p.line_type, p.campaign,
        )
        for aid in ids
        if (p := reserved.get(aid)) is not None
    }  # fmt: skip
    unknown = [a for a in ids if a not in attempts]
    if unknown:
        c = EVENTS.c
        # Only what the outcome row copies: the attempt's extra (the guard's
        # grants) and hashes would be read and parsed for nothing.
        rows = conn.execute(
            sa.select(
                c.id, c.customer_id, c.debt_ids, c.channel, c.direction,
                c.contact_point, c.line_type, c.campaign,
            ).where(one_of(c.id, unknown, conn.dialect.name))
        )  # fmt: skip
        attempts.update(
            (int(r.id), _AttemptFacts(
                r.customer_id, tuple(json.loads(r.debt_ids)), r.channel, r.direction,
                r.contact_point, r.line_type, r.campaign,
            ))
            for r in rows
        )  # fmt: skip
    return attempts


def _outcome_entry(
    attempt_id: int, outcome: str, extra: dict[str, Any], a: _AttemptFacts, now: dt.datetime
) -> LedgerEntry:
    """The final outcome row of attempt ``attempt_id``, idempotent per (attempt, outcome)."""
    return LedgerEntry(
        at=now,
        customer_id=a.customer_id,
        debt_ids=a.debt_ids,
        channel=a.channel,
        direction=a.direction,
        kind="attempt",
        outcome=outcome,
        status="final",
        resolves_id=attempt_id,
        contact_point=a.contact_point,
        line_type=a.line_type,
        campaign=a.campaign,
        extra=extra,
        idempotency_key=f"outcome:{attempt_id}:{outcome}",
    )


def _email(rt: Runtime, batch: MessageBatch, senders: Senders, item: _ReadyMessage) -> EmailMessage:
    assert senders.email is not None and item.target.point is not None
    r = item.rendered
    unsubscribe = None
    if rt.settings.opt_out_url:
        unsubscribe = rt.settings.opt_out_url.format(
            customer=item.target.customer_id, channel="email"
        )
    return EmailMessage(
        message_id=str(item.attempt_id),
        to_email=item.target.point.value,
        to_name=f"{item.target.view.first_name} {item.target.view.last_name}".strip() or None,
        subject=r.subject or "",
        text=r.body,
        html=r.html,
        from_email=senders.email,
        from_name=senders.email_name,
        categories=(batch.campaign,),
        unsubscribe_url=unsubscribe,
    )


def _text(
    rt: Runtime, batch: MessageBatch, senders: Senders, item: _ReadyMessage, now: dt.datetime
) -> TextMessage:
    sender = senders.whatsapp if batch.channel == "whatsapp" else senders.sms
    assert sender is not None and item.target.point is not None
    callback = None
    if rt.settings.webhook_base_url:
        # The attempt id rides in the callback URL, which Twilio signs: the
        # status webhook needs no lookup table from Twilio's sid to our attempt.
        callback = (
            f"{rt.settings.webhook_base_url}/webhooks/twilio/status?attempt={item.attempt_id}"
        )
    return TextMessage(
        message_id=str(item.attempt_id),
        to=item.target.point.value,
        from_=sender,
        body=item.rendered.body,
        channel="whatsapp" if batch.channel == "whatsapp" else "sms",
        validity_s=seconds_left(item.packs, batch.channel, item.target.timezones, now),
        status_callback=callback,
        content_sid=senders.whatsapp_template if batch.channel == "whatsapp" else None,
        content_variables=(
            {"1": item.target.view.first_name} if batch.channel == "whatsapp" else {}
        ),
    )


def _send(
    rt: Runtime, batch: MessageBatch, items: list[_ReadyMessage], now: dt.datetime
) -> SendReport:
    """One provider call for ``items`` (the transport splits it into requests)."""
    senders = rt.settings.senders_for(batch.campaign)
    if batch.channel == "email":
        assert rt.sendgrid is not None
        return rt.sendgrid.send([_email(rt, batch, senders, i) for i in items])
    assert rt.twilio is not None
    return rt.twilio.send([_text(rt, batch, senders, i, now) for i in items])


def _missing_sender(rt: Runtime, batch: MessageBatch) -> str | None:
    """Why nothing in ``batch`` can be sent (no transport or sender), or None."""
    senders = rt.settings.senders_for(batch.campaign)
    if batch.channel == "email":
        if rt.sendgrid is None:
            return "SendGrid is not configured (SENDGRID_API_KEY)"
        return None if senders.email else f"no email sender for campaign {batch.campaign!r}"
    if rt.twilio is None:
        return "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)"
    sender = senders.whatsapp if batch.channel == "whatsapp" else senders.sms
    return None if sender else f"no {batch.channel} sender for campaign {batch.campaign!r}"


def _reschedule(batch: MessageBatch, deferred: list[_Deferred], reschedule: Reschedule) -> None:
    """Send the deferred messages on as sub-batches, one per time they may next go out."""
    by_time: dict[dt.datetime, list[PlannedMessage]] = defaultdict(list)
    for d in deferred:
        by_time[d.at].append(d.item.message)
    for at, messages in sorted(by_time.items()):
        sub = MessageBatch(
            batch_id=f"{batch.batch_id}@{at:%Y%m%dT%H%MZ}",
            campaign=batch.campaign,
            channel=batch.channel,
            slot_start=at,
            slot_end=max(batch.slot_end, at + (batch.slot_end - batch.slot_start)),
            messages=tuple(messages),
            packs=batch.packs,
            not_after=batch.deadline,
        )
        reschedule(sub, at)


def process_batch(
    rt: Runtime,
    batch: MessageBatch,
    *,
    now: dt.datetime,
    not_sent: set[int],
    last_try: bool,
    reschedule: Reschedule,
) -> tuple[BatchReport, set[int]]:
    """Run ``batch`` once at ``now``; returns the report and the attempts to retry.

    ``not_sent``: attempts an earlier run of this job proved it never sent.
    ``last_try``: no retry follows, so transient failures are settled as failed.

    The phases, in order: prepare (load context, render), ask the guard (which
    reserves), triage its verdicts, settle what is not sent now (reconciled,
    deferred, noted), deliver the rest, report.
    """
    if now >= batch.deadline:
        return _expire(rt, batch, now, not_sent), set()
    missing = _missing_sender(rt, batch)
    if missing is not None:
        return _drop_all(rt, batch, now, missing), set()
    prepared = _prepare(rt, batch, now)
    requests = _contact_requests(batch, prepared.ready, now)
    results = _guard(rt, requests, now)
    triage = _triage(rt, batch, prepared.ready, requests, results, now=now, not_sent=not_sent)
    _settle_triage(rt, batch, triage, prepared.dropped, now=now, reschedule=reschedule)
    delivery = _deliver(rt, batch, triage.to_send, triage.reserved, now=now, last_try=last_try)
    _record_notes(rt.engine, batch, now, delivery.notes)
    report = BatchReport(
        batch.batch_id,
        sent=delivery.sent,
        failed=delivery.failed,
        dropped=len(prepared.dropped),
        refused=triage.refused,
        rescheduled=len(triage.deferred),
        already_done=triage.already_done,
        reconciled=len(triage.reconciled),
        retry_later=len(delivery.retry),
        ambiguous=triage.ambiguous + delivery.ambiguous,
        provider_requests=delivery.provider_requests,
    )
    return report, delivery.retry


def _expire(rt: Runtime, batch: MessageBatch, now: dt.datetime, not_sent: set[int]) -> BatchReport:
    """The slot closed before the job ran: drop what was never attempted, settle the unsent."""
    why = f"slot closed at {batch.deadline.isoformat()}; job ran at {now.isoformat()}"
    # Only messages never attempted are noted as dropped: an attempt an
    # earlier run made stands, and a refusal beside it would mislead an audit.
    with rt.engine.connect() as conn:
        attempted = existing_keys(conn, (m.key for m in batch.messages))
    unattempted = [m for m in batch.messages if m.key not in attempted]
    _record_notes(
        rt.engine, batch, now, [_Note(m.key, m.customer_id, None, why) for m in unattempted]
    )
    # Attempts an earlier run reserved but provably never sent must not stay
    # pending forever: they are settled as failed, with the reason.
    record_outcomes(
        rt.engine,
        [
            _Outcome(aid, "failed", {"error": why, "retries_exhausted": True})
            for aid in sorted(not_sent)
        ],
        now=now,
    )
    return BatchReport(
        batch.batch_id,
        failed=len(not_sent),
        dropped=len(unattempted),
        already_done=len(attempted) - len(not_sent & set(attempted.values())),
    )


def _drop_all(rt: Runtime, batch: MessageBatch, now: dt.datetime, why: str) -> BatchReport:
    """Nothing in the batch can be sent (no provider or sender): note every message, drop all."""
    _record_notes(
        rt.engine, batch, now, [_Note(m.key, m.customer_id, None, why) for m in batch.messages]
    )
    return BatchReport(batch.batch_id, dropped=len(batch.messages))


def _contact_requests(
    batch: MessageBatch, ready: list[_ReadyMessage], now: dt.datetime
) -> list[ContactRequest]:
    """What the guard is asked, one request per ready message, keyed by its plan key."""
    return [
        ContactRequest(
            key=i.message.key,
            proposal=Proposal(
                at=now,
                customer_id=i.target.customer_id,
                debt_ids=i.target.debt_ids,
                channel=batch.channel,
                timezones=i.target.timezones,
                contact_point=i.target.point.value if i.target.point else None,
                line_type=i.target.point.line_type if i.target.point else "unknown",
                campaign=batch.campaign,
                autodialed=batch.channel in AUTODIALED_BY_DEFAULT,
            ),
            packs=i.packs,
            extra={"batch": batch.batch_id},
        )
        for i in ready
    ]


def _guard(rt: Runtime, requests: list[ContactRequest], now: dt.datetime) -> list[GuardResult]:
    """The guard's verdicts (one call for the batch); raises ``LedgerUnavailable`` if it is down."""
    results = guard_and_reserve(rt.engine, requests, now=now)
    down = [r for r in results if any(x.rule == "ledger-unavailable" for x in r.decision.results)]
    if down:
        # Fail closed, and loudly: nothing was reserved or sent; the job fails
        # so RQ retries it later instead of silently dropping the batch.
        raise LedgerUnavailable(down[0].decision.results[0].detail)
    return results


def _triage(
    rt: Runtime,
    batch: MessageBatch,
    ready: list[_ReadyMessage],
    requests: list[ContactRequest],
    results: list[GuardResult],
    *,
    now: dt.datetime,
    not_sent: set[int],
) -> _Triage:
    """Sort each message by its verdict: send, defer to a later hour, reconcile, or refuse."""
    replayed = [r.attempt_id for r in results if r.replayed and r.attempt_id is not None]
    settled = _settled(rt.engine, replayed)
    triage = _Triage()
    for item, request, result in zip(ready, requests, results, strict=True):
        if result.allowed and result.attempt_id is not None:
            item.attempt_id = result.attempt_id
            if not result.replayed:
                triage.reserved[result.attempt_id] = request.proposal
        if result.replayed:
            _triage_replayed(rt, batch, item, settled, not_sent, triage)
        elif result.allowed:
            triage.to_send.append(item)
        elif only_hours_refused(result.decision, item.packs, batch.channel):
            _defer_or_drop(batch, item, now, triage)
        else:
            triage.refused += 1  # the guard recorded its reasons
    return triage


def _triage_replayed(
    rt: Runtime,
    batch: MessageBatch,
    item: _ReadyMessage,
    settled: set[int],
    not_sent: set[int],
    triage: _Triage,
) -> None:
    """A message an earlier run reserved: done, provably unsent (resend), or ask the provider."""
    aid = item.attempt_id
    if aid in settled:
        triage.already_done += 1
    elif aid in not_sent:
        triage.to_send.append(item)
    else:
        assert item.target.point is not None
        found = rt.reconciler.lookup(batch.channel, aid, item.target.point.value)
        if found.state == "sent":
            triage.reconciled.append(
                _Outcome(aid, "sent", {"provider_id": found.provider_id, "reconciled": True})
            )
        elif found.state == "absent":
            triage.to_send.append(item)
        else:
            triage.ambiguous.append(aid)
            triage.notes.append(
                _Note(item.message.key, item.target.customer_id, aid,
                      "ambiguous: an earlier run reserved this attempt and may have sent it; "
                      "the provider cannot confirm, so it is not resent (operator: reconcile)")
            )  # fmt: skip


def _defer_or_drop(
    batch: MessageBatch, item: _ReadyMessage, now: dt.datetime, triage: _Triage
) -> None:
    """A message refused only for the hour: defer it if it may still go out before the deadline."""
    at = next_allowed(item.packs, batch.channel, item.target.timezones, now)
    if at is not None and at < batch.deadline:
        triage.deferred.append(_Deferred(item, at))
        return
    triage.refused += 1
    when = at.isoformat() if at else "not within 8 days"
    triage.notes.append(
        _Note(item.message.key, item.target.customer_id, None,
              f"outside allowed hours; next allowed {when} is past the deadline "
              f"{batch.deadline.isoformat()}: dropped")
    )  # fmt: skip


def _settle_triage(
    rt: Runtime,
    batch: MessageBatch,
    triage: _Triage,
    dropped: list[_Note],
    *,
    now: dt.datetime,
    reschedule: Reschedule,
) -> None:
    """Before anything is sent: record reconciled outcomes, reschedule, note every drop."""
    record_outcomes(rt.engine, triage.reconciled, now=now)
    _reschedule(batch, triage.deferred, reschedule)
    # One write for the notes of both phases, those of preparation first.
    _record_notes(rt.engine, batch, now, dropped + triage.notes)


def _deliver(
    rt: Runtime,
    batch: MessageBatch,
    to_send: list[_ReadyMessage],
    reserved: Mapping[int, Proposal],
    *,
    now: dt.datetime,
    last_try: bool,
) -> _Delivery:
    """Send ``to_send`` through the provider, recording outcomes after each request."""
    delivery = _Delivery()
    # SendGrid takes 1,000 per request (the transport splits); texts go one
    # request each, so record them every TEXT_CHUNK to keep a crash's loose ends few.
    chunk = max(1, len(to_send)) if batch.channel == "email" else TEXT_CHUNK
    for start in range(0, len(to_send), chunk):
        part = to_send[start : start + chunk]
        sent = _send(rt, batch, part, now)
        delivery.provider_requests += sent.requests
        outcomes = _sent_outcomes(part, sent, last_try, delivery)
        record_outcomes(rt.engine, outcomes, now=rt.clock.now(), reserved=reserved)
    return delivery


def _sent_outcomes(
    part: list[_ReadyMessage], sent: SendReport, last_try: bool, delivery: _Delivery
) -> list[_Outcome]:
    """The outcome rows one provider request calls for; ``delivery`` counts every message."""
    outcomes: list[_Outcome] = []
    for item in part:
        aid = item.attempt_id
        provider_id = sent.accepted.get(str(aid))
        if provider_id is not None:
            outcomes.append(_Outcome(aid, "sent", {"provider_id": provider_id}))
            delivery.sent += 1
            continue
        error = sent.failed[str(aid)]
        detail = _error_extra(error)
        if error.permanent:
            outcomes.append(_Outcome(aid, "failed", detail))
            delivery.failed += 1
        elif error.ambiguous:
            delivery.ambiguous.append(aid)
            delivery.notes.append(
                _Note(item.message.key, item.target.customer_id, aid,
                      f"ambiguous: the provider may have taken it ({error}); not resent")
            )  # fmt: skip
        elif last_try:
            outcomes.append(_Outcome(aid, "failed", {**detail, "retries_exhausted": True}))
            delivery.failed += 1
        else:
            delivery.retry.add(aid)
    return outcomes


def _error_extra(error: TransportError) -> dict[str, Any]:
    """What an outcome row keeps of a provider error (the message cut to 300 characters)."""
    return {
        "error": str(error)[:300],
        "provider": error.provider,
        "status": error.status,
        "code": error.code,
        "permanent": error.permanent,
    }
