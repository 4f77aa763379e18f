"""Verifying the ledger's chain in the background, and remembering the result.

Recomputing every link reads every ledger row (a million take ~20 s), which
no web request should do. A check is a ``ledger_checks`` row: *requested*
(a compliance officer's button in the console, ``cadencia ledger verify``,
or its schedule), then *started* and *finished* by whoever runs it, the RQ
job ``verify_job`` on the queue ``QUEUE`` or the command itself. The result
is what ``campaigns.ledger.chain.verify`` reports: intact or not, the first
bad row and what is wrong with it, and how many rows were checked, with when
and how long. The console shows the newest finished check and whether a
newer one is waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import ChainReport, verify
from campaigns.settings import Settings
from campaigns.storage.db import make_engine
from campaigns.storage.models import LedgerCheck

log = logging.getLogger(__name__)
CHECKS: sa.Table = LedgerCheck.__table__  # type: ignore[assignment]

# The RQ queue the console puts its requests on; `cadencia worker` must listen
# on it (docker/compose.yml's worker does, last: it waits behind calls and messages).
QUEUE = "ledger"
JOB_FUNCTION = "campaigns.ledger.verification.verify_job"
# Time enough for a very large ledger (RQ's default is 3 minutes).
JOB_TIMEOUT_S = 6 * 3600
# A request no worker started within this long is taken as lost (Redis
# restarted empty, no worker on the queue): the next request queues anew.
QUEUED_STALE = dt.timedelta(hours=1)
SOURCES = ("console", "schedule", "cli")
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Check:
    """One ledger check as stored; ``ok`` is None while it is queued or running, and
    after it finished without a verdict (an error, named in ``problem``)."""

    id: int
    requested_at: dt.datetime
    source: str
    requested_by: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    ok: bool | None
    events: int | None
    event_id: int | None
    problem: str | None
    duration_s: float | None

    @property
    def state(self) -> str:
        """``queued``, ``running`` or ``done``."""
        if self.finished_at is not None:
            return "done"
        return "queued" if self.started_at is None else "running"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        doc = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("requested_at", "started_at", "finished_at"):
            doc[name] = doc[name].isoformat() if doc[name] is not None else None
        return {**doc, "state": self.state}


def _check(row: Any) -> Check:
    return Check(**{name: getattr(row, name) for name in Check.__dataclass_fields__})


def request_check(engine: Engine, *, source: str, by: str | None = None, now: dt.datetime) -> int:
    """Record that a check was asked for (not yet run); returns its id."""
    if source not in SOURCES:
        raise ValueError(f"a ledger check's source is one of {SOURCES}, not {source!r}")
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(LedgerCheck)
                .values(requested_at=now, source=source, requested_by=by)
                .returning(LedgerCheck.id)
            ).scalar_one()
        )


def run_check(engine: Engine, check_id: int, *, clock: Clock = _utc_now) -> Check:
    """Run the requested check ``check_id`` in this process and store its result.

    A check already started (a retried or duplicated job) is left as it is
    and returned unchanged: the claim is one conditional UPDATE, so two
    workers never both run it. ``LookupError`` if there is no such check.
    """
    with engine.begin() as conn:
        claimed = conn.execute(
            sa.update(LedgerCheck)
            .where(LedgerCheck.id == check_id, LedgerCheck.started_at.is_(None))
            .values(started_at=clock())
        ).rowcount
    if claimed:
        began = time.perf_counter()
        try:
            report = verify(engine)
        except Exception as exc:
            # Finished, without a verdict (ok stays None): the page says so.
            failed = ChainReport(ok=False, events=0, problem=f"{type(exc).__name__}: {exc}"[:500])
            _finish(engine, check_id, failed, time.perf_counter() - began, clock(), verdict=False)
            raise
        _finish(engine, check_id, report, time.perf_counter() - began, clock())
    found = get_check(engine, check_id)
    if found is None:
        raise LookupError(f"there is no ledger check {check_id}")
    if claimed:
        log.info("ledger check %s: %s", check_id, found.as_dict())
    return found


def _finish(
    engine: Engine,
    check_id: int,
    report: ChainReport,
    seconds: float,
    now: dt.datetime,
    *,
    verdict: bool = True,
) -> None:
    """Store ``report`` as check ``check_id``'s result (without ``verdict``: it could
    not finish, ``ok`` stays None and ``problem`` says why)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(LedgerCheck)
            .where(LedgerCheck.id == check_id)
            .values(
                finished_at=now,
                ok=report.ok if verdict else None,
                events=report.events,
                event_id=report.event_id,
                problem=report.problem,
                duration_s=round(seconds, 3),
            )
        )


def check_now(
    engine: Engine, *, source: str = "cli", by: str | None = None, clock: Clock = _utc_now
) -> Check:
    """Request a check and run it at once, in this process (``cadencia ledger verify``)."""
    return run_check(engine, request_check(engine, source=source, by=by, now=clock()), clock=clock)


def get_check(engine: Engine, check_id: int) -> Check | None:
    """The check ``check_id`` as stored, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(CHECKS).where(CHECKS.c.id == check_id)).first()
    return None if row is None else _check(row)


@dataclass(frozen=True)
class Status:
    """What the console shows: the newest finished check, and a newer one not finished."""

    last: Check | None
    waiting: Check | None


def status(engine: Engine) -> Status:
    """The newest finished check and the newest unfinished one requested after it."""
    with engine.connect() as conn:
        last = conn.execute(
            sa.select(CHECKS)
            .where(CHECKS.c.finished_at.is_not(None))
            .order_by(CHECKS.c.finished_at.desc(), CHECKS.c.id.desc())
            .limit(1)
        ).first()
        waiting_query = sa.select(CHECKS).where(CHECKS.c.finished_at.is_(None))
        if last is not None:
            waiting_query = waiting_query.where(CHECKS.c.id > last.id)
        waiting = conn.execute(waiting_query.order_by(CHECKS.c.id.desc()).limit(1)).first()
    return Status(
        None if last is None else _check(last), None if waiting is None else _check(waiting)
    )


def enqueue_check(
    engine: Engine, queue: Queue, *, source: str, by: str | None, now: dt.datetime
) -> int:
    """Request a check and put its job on ``queue`` (JSON: the check's id); returns the id.

    A check already waiting (requested, not finished) is not doubled: its id
    is returned and nothing new is queued, unless it looks lost (queued for
    ``QUEUED_STALE`` without a worker starting it, or running past the job's
    timeout). If the job cannot be queued the request is withdrawn and the
    error raised.
    """
    waiting = status(engine).waiting
    if waiting is not None and not _lost(waiting, now):
        return waiting.id
    check_id = request_check(engine, source=source, by=by, now=now)
    try:
        queue.enqueue(
            JOB_FUNCTION,
            {"check_id": check_id},
            job_id=f"ledger-verify-{check_id}",
            job_timeout=JOB_TIMEOUT_S,
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
        )
    except Exception:
        # Never queued: no worker will run it, so it must not show as waiting.
        with engine.begin() as conn:
            conn.execute(sa.delete(LedgerCheck).where(LedgerCheck.id == check_id))
        raise
    return check_id


def _lost(check: Check, now: dt.datetime) -> bool:
    """Whether an unfinished check can no longer be expected to finish."""
    if check.started_at is None:
        return now - check.requested_at > QUEUED_STALE
    return now - check.started_at > dt.timedelta(seconds=JOB_TIMEOUT_S)


def verify_job(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: run the requested check ``payload["check_id"]``; returns its result."""
    settings = Settings.load()
    engine = make_engine(settings.database_url)
    try:
        return run_check(engine, int(payload["check_id"])).as_dict()
    finally:
        engine.dispose()
