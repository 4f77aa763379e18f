"""The dial-session RQ job: one campaign × slot, the pacing loop against AMI.

``dial_session_job(payload)`` is what a worker runs. It rebuilds its wiring
from its environment (``Settings.load().dialer()``), the campaign exactly as
the run stored it, the hopper (rebuilt from the plan if Redis lost it), the
pacer (seeded with the abandon counts already in the ledger for the rule's
window) and the agent board, then runs ``dialer.session.DialSession`` for the
slot's length divided by ``time_scale`` (a compressed day for tests and the
demo). The session's calls that reach an agent are published as agent events
(``campaigns.dialing.agent_calls``) in ``CADENCIA_AGENT_NAMESPACE``: the
console's screen pop and wrap-up come from there. Rerunning the job after a
crash resumes from the hopper and the ledger; nobody is dialed twice.
Callbacks set at the desktop for an instant inside the slot join its hopper
when the session starts and while it dials (``campaigns.dialing.callbacks``);
those it could not dial are marked missed when it ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from campaigns.calls.live import LIVE_EVERY_S, LiveQueue, publish_live
from campaigns.campaign import Campaign
from campaigns.clock import Clock
from campaigns.dialing.agent_calls import AgentCallPublisher
from campaigns.dialing.callbacks import SlotWindow, close_slot, sync_callbacks
from campaigns.dialing.hopper import RedisHopper
from campaigns.dialing.lease import (
    ACQUIRE_WAIT_S,
    SlotLease,
    acquire_within,
    keep_lease,
    lease_key,
)
from campaigns.dialing.ledger import LedgerGuard, LedgerSink
from campaigns.dialing.pacer_memory import restore_pacer, save_pacer
from campaigns.dialing.pbx import AmiPbx, Variables
from campaigns.ledger.chain import EVENTS
from campaigns.messaging.queue import reusable_job
from campaigns.recordings.policy import recording_variables
from campaigns.run.stored import campaign_of
from campaigns.settings import DEFAULT_DIAL_QUEUE, DialerSettings, Settings
from campaigns.storage.db import make_engine
from campaigns.storage.models import Run
from dialer.abandon_budget import AbandonBudget, AbandonRule, DayCount, RuleWindow
from dialer.agents import AgentBoard
from dialer.ami import AmiClient
from dialer.pacing import Mode, Pacer, PacingConfig, PacingPriors
from dialer.session import DialSession, SessionConfig, SessionReport

log = logging.getLogger(__name__)
JOB_FUNC = "campaigns.dialing.job.dial_session_job"
DEFAULT_QUEUE = DEFAULT_DIAL_QUEUE


def session_queue_name(campaign: Campaign) -> str:
    """The RQ queue of the campaign's dial sessions: one per Asterisk server."""
    return f"{DEFAULT_QUEUE}-{campaign.dialer.server}" if campaign.dialer.server else DEFAULT_QUEUE


# A compressed day cannot compress the PBX: a call needs real seconds to be
# set up and answered, so the ring timeout never drops below this.
MIN_REAL_RING_S = 3.0
FAILURE_TTL_S = 7 * 24 * 3600
RESULT_TTL_S = 24 * 3600
# After the slot ends, conversations in progress are followed this long (real
# seconds, divided by the time scale) so their outcomes reach the ledger.
DRAIN_S = 900.0
# Real seconds between two looks for callbacks set while the session dials.
CALLBACK_POLL_S = 5.0
# AMI unreachable when the slot starts: try again soon, the slot is short.
DEFAULT_RETRY = Retry(max=3, interval=[5, 30, 60])


@dataclass(frozen=True)
class DialSlot:
    """One dial session's job payload."""

    run_id: int
    slot: int
    slot_start: dt.datetime
    slot_end: dt.datetime
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.slot_end <= self.slot_start:
            raise ValueError(f"DialSlot: slot_end {self.slot_end} is not after {self.slot_start}")
        if self.time_scale < 1:
            raise ValueError(f"DialSlot: time_scale must be >= 1, got {self.time_scale}")

    @property
    def duration_s(self) -> float:
        """Real seconds the session runs."""
        return (self.slot_end - self.slot_start).total_seconds() / self.time_scale

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready job argument."""
        return {
            "run_id": self.run_id,
            "slot": self.slot,
            "slot_start": self.slot_start.isoformat(),
            "slot_end": self.slot_end.isoformat(),
            "time_scale": self.time_scale,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DialSlot:
        """Parse a job argument; a missing or bad field is named."""
        try:
            return cls(
                run_id=int(payload["run_id"]),
                slot=int(payload["slot"]),
                slot_start=dt.datetime.fromisoformat(str(payload["slot_start"])),
                slot_end=dt.datetime.fromisoformat(str(payload["slot_end"])),
                time_scale=float(payload.get("time_scale", 1.0)),
            )
        except KeyError as exc:
            raise ValueError(f"dial session payload: missing field {exc}") from None


def job_id(slot: DialSlot) -> str:
    """One job per run × slot."""
    return f"dial-run{slot.run_id}-s{slot.slot}"


def pacing_config(campaign: Campaign, time_scale: float = 1.0) -> PacingConfig:
    """The pacer's settings from the campaign's dialer and agents, times scaled down."""
    d, agents = campaign.dialer, campaign.agents
    window = RuleWindow.CAMPAIGN_DAY if d.abandon_window == "day" else RuleWindow.ROLLING_DAYS
    timeout = max(MIN_REAL_RING_S, d.ring_timeout_s / time_scale)
    priors = PacingPriors(
        live_rate=0.25,
        ring_seconds=(min(4.0, 0.5 * d.ring_timeout_s) / time_scale, 0.9 * timeout),
        no_answer_timeout=timeout,
        talk_mean=agents.talk_minutes * 60.0 / time_scale,
        wrap_mean=max(agents.wrap_minutes * 60.0 / time_scale, 0.1),
    )
    # the abandon grace is the dialplan's (real seconds, not scaled): 1 s after AMD
    grace = 1.0 if d.amd else 2.0
    return PacingConfig(
        mode=Mode(d.mode),
        rule=AbandonRule(max_rate=d.abandon_target, window=window),
        grace_seconds=grace,
        horizon_seconds=max(5, int(timeout + grace) + 2),
        priors=priors,
    )


def abandon_history(
    engine: Engine, campaign: Campaign, today: dt.date, days: int
) -> dict[dt.date, DayCount]:
    """Live answers and abandons per campaign-local day in the ledger, for the budget."""
    zone = ZoneInfo(campaign.timezone)
    since = dt.datetime.combine(today - dt.timedelta(days=days), dt.time(), zone)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS.c.at, EVENTS.c.outcome).where(
                EVENTS.c.campaign == campaign.name,
                EVENTS.c.channel == "voice",
                # an inbound caller who hung up waiting is no abandoned call of ours
                EVENTS.c.direction == "outbound",
                EVENTS.c.outcome.in_(("conversation", "abandoned")),
                EVENTS.c.at >= since,
            )
        ).all()
    live: dict[dt.date, int] = defaultdict(int)
    abandoned: dict[dt.date, int] = defaultdict(int)
    for at, outcome in rows:
        day = at.astimezone(zone).date()
        live[day] += 1
        abandoned[day] += outcome == "abandoned"
    return {day: DayCount(live[day], abandoned[day]) for day in live}


async def run_dial_session(
    settings: DialerSettings,
    slot: DialSlot,
    *,
    config: PacingConfig | None = None,
    variables: Variables | None = None,
    wall: Callable[[], dt.datetime] | None = None,
    session_options: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    lease_wait_s: float = ACQUIRE_WAIT_S,
) -> SessionReport:
    """Run one slot's session in this process (the job's body; tests call it directly).

    Only one session dials a slot (``campaigns.dialing.lease``): if another
    still holds its lease after ``lease_wait_s``, this one returns without
    dialing, its report's ``stopped`` saying why.

    With a compressed ``clock`` (``CADENCIA_SIM_CLOCK``, the demo's shared
    day) the session dials until that clock reads the slot's end and the
    guard judges its instants; otherwise see :func:`_timing`.
    """
    scale = _time_scale(slot, clock)
    engine = make_engine(settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    lease = SlotLease(redis, lease_key(slot.run_id, slot.slot))
    try:
        if not await acquire_within(lease, lease_wait_s):
            # Another session dials this slot (a job RQ re-enqueued while its
            # first run still lives): this one must not pace against it.
            return _not_started(slot, lease)
        wiring = _wire_session(
            settings,
            slot,
            engine,
            redis,
            scale,
            config=config,
            variables=variables,
            wall=wall,
            session_options=session_options,
            clock=clock,
        )
        report = await _dial(wiring, lease)
        _remember_pacer(engine, slot, wiring.pacer, scale)
        return report
    finally:
        _release(lease, redis, engine)


def _time_scale(slot: DialSlot, clock: Clock | None) -> float:
    """How many times faster than real time the slot runs: the shared clock's, else the slot's."""
    if clock is not None and clock.sim_start is not None:
        return clock.factor_at(slot.slot_start)
    return slot.time_scale


def _not_started(slot: DialSlot, lease: SlotLease) -> SessionReport:
    """The report of a session that found its slot's lease held by another."""
    report = SessionReport()
    report.stopped = (
        f"run {slot.run_id} slot {slot.slot} is dialed by another session "
        f"({lease.current_holder() or 'its lease just expired'}): not started"
    )
    log.warning("%s", report.stopped)
    return report


@dataclass(frozen=True)
class _Wiring:
    """Everything one dial session runs on, built before AMI is connected."""

    config: SessionConfig
    pacer: Pacer
    board: AgentBoard
    hopper: RedisHopper
    guard: LedgerGuard
    sink: LedgerSink
    client: AmiClient
    pbx: AmiPbx
    wall: Callable[[], dt.datetime]  # the instant the guard judges
    agents: AgentCallPublisher  # the screen pop: connect/complete on Redis
    engine: Engine
    window: SlotWindow  # the slot's instants, for its callbacks


def _wire_session(
    settings: DialerSettings,
    slot: DialSlot,
    engine: Engine,
    redis: Redis,
    scale: float,
    *,
    config: PacingConfig | None,
    variables: Variables | None,
    wall: Callable[[], dt.datetime] | None,
    session_options: Mapping[str, Any] | None,
    clock: Clock | None,
) -> _Wiring:
    """The campaign as the run stored it, its pacer, hopper, agent board and PBX."""
    run = _load_run(engine, slot.run_id)
    campaign = campaign_of(run)
    cfg = config or pacing_config(campaign, scale)
    pacer = session_pacer(engine, campaign, cfg, run.day, scale)
    hopper = RedisHopper(redis, slot.run_id, slot.slot)
    rebuilt = hopper.ensure(engine)
    if rebuilt:
        log.warning("hopper of run %s slot %s rebuilt from the plan", slot.run_id, slot.slot)
    queue_name = settings.dial_queue or campaign.dialer.queue
    board = AgentBoard(queue_name, wrapup_seconds=campaign.agents.wrap_minutes * 60.0 / scale)
    per_call = _call_variables(settings, variables, recording_variables(campaign.recording))
    wall_now, duration = _timing(clock or Clock(), slot)
    hopper.now = wall or wall_now  # callbacks fall due by the instant the guard judges
    window = SlotWindow(slot.run_id, slot.slot, campaign.name, slot.slot_start, slot.slot_end)
    sync_callbacks(engine, hopper, window, now=dt.datetime.now(dt.UTC), rebuilt=rebuilt)
    client = _ami_client(settings)
    pbx = AmiPbx(
        client,
        queue_name,
        channel_template=settings.channel_template,
        amd=campaign.dialer.amd,
        caller_id=(campaign.channels["voice"].sender if "voice" in campaign.channels else None),
        queue_wait_s=settings.queue_wait_s,
        variables=per_call,
    )
    session_cfg = SessionConfig(
        duration_s=max(duration, 1e-3),
        day=run.day,
        ring_timeout_s=max(MIN_REAL_RING_S, campaign.dialer.ring_timeout_s / scale),
        amd=campaign.dialer.amd,
        call_prefix=settings.call_prefix,
        **{
            "drain_s": DRAIN_S / scale,
            "owner_wait_s": campaign.dialer.owner_wait_s / scale,
            **dict(session_options or {}),
        },
    )
    guard = LedgerGuard(engine, campaign)
    sink = LedgerSink(engine)
    agents = AgentCallPublisher.from_url(
        settings.redis_url,
        run_id=slot.run_id,
        campaign=campaign.name,
        namespace=settings.agent_namespace,
    )
    return _Wiring(
        session_cfg,
        pacer,
        board,
        hopper,
        guard,
        sink,
        client,
        pbx,
        wall or wall_now,
        agents,
        engine,
        window,
    )


def _load_run(engine: Engine, run_id: int) -> Run:
    """The run, detached from its session so its attributes outlive it."""
    with Session(engine) as db:
        run = db.get(Run, run_id)
        if run is not None:
            db.expunge(run)
    if run is None:
        raise ValueError(f"dial session: run {run_id} does not exist")
    return run


def session_pacer(
    engine: Engine, campaign: Campaign, cfg: PacingConfig, day: dt.date, scale: float
) -> Pacer:
    """The pacer, restored from the campaign's previous session, its abandon budget from the ledger.

    The budget is seeded with the ledger's counts for the rule's window; the
    estimates come from ``pacer_memory`` (the priors for a first session).
    """
    window_days = cfg.rule.window_days if cfg.rule.window is RuleWindow.ROLLING_DAYS else 0
    budget = AbandonBudget(cfg.rule, abandon_history(engine, campaign, day, window_days))
    pacer = Pacer(cfg, budget)
    if restore_pacer(engine, campaign.name, pacer, time_scale=scale):
        log.info("pacer of %s restored from its previous session", campaign.name)
    return pacer


def _remember_pacer(engine: Engine, slot: DialSlot, pacer: Pacer, scale: float) -> None:
    """Save what the session's pacer learned for the campaign's next session.

    A failure is logged, not raised: the calls are made and recorded, and the
    next session merely starts from the priors again.
    """
    try:
        campaign = _load_run(engine, slot.run_id).campaign
        save_pacer(
            engine,
            campaign,
            pacer,
            now=dt.datetime.now(dt.UTC),
            run_id=slot.run_id,
            time_scale=scale,
        )
    except SQLAlchemyError as exc:
        log.warning("run %s slot %s: pacer state not saved: %s", slot.run_id, slot.slot, exc)


def _call_variables(
    settings: DialerSettings, variables: Variables | None, recording: Mapping[str, str]
) -> Variables:
    """Channel variables per call: the campaign's recording ones, the settings' fixed
    ones, then the caller's."""
    static = {**recording, **settings.dial_variables}

    def per_call(attempt_id: int, number: str) -> Mapping[str, str]:
        return {**static, **(variables(attempt_id, number) if variables else {})}

    return per_call


def _ami_client(settings: DialerSettings) -> AmiClient:
    """An AMI client that notices a dead link within seconds and reconnects fast."""
    return AmiClient(
        settings.ami_host,
        settings.ami_port,
        settings.ami_username,
        settings.ami_secret,
        ping_interval=2.0,
        ping_timeout=2.0,
        backoff_initial=0.1,
        backoff_max=2.0,
    )


async def _dial(wiring: _Wiring, lease: SlotLease) -> SessionReport:
    """Connect to AMI and run the session, keeping the lease alive while it dials."""
    await wiring.client.connect()
    keeper: asyncio.Task[None] | None = None
    try:
        session = DialSession(
            wiring.config,
            wiring.pacer,
            wiring.board,
            wiring.hopper,
            wiring.guard,
            wiring.sink,
            wiring.pbx,
            wall=wiring.wall,
            observer=wiring.agents,
        )
        keeper = asyncio.create_task(keep_lease(lease, session.stop))
        poller = asyncio.create_task(_poll_callbacks(wiring))
        live = asyncio.create_task(_publish_live(wiring, session))
        try:
            report = await session.run()
        finally:
            poller.cancel()
            live.cancel()
        if report.stopped is None:  # a stopped session may be resumed: its leads wait
            report.carried_over = _carry_over(wiring)
            _close_callbacks(wiring)
        return report
    finally:
        if keeper is not None:
            keeper.cancel()
        await wiring.client.close()
        wiring.agents.close()


async def _poll_callbacks(wiring: _Wiring) -> None:
    """Queue callbacks the desktop sets while the session dials (until cancelled)."""
    while True:
        await asyncio.sleep(CALLBACK_POLL_S)
        try:
            await asyncio.to_thread(
                sync_callbacks,
                wiring.engine,
                wiring.hopper,
                wiring.window,
                now=dt.datetime.now(dt.UTC),
                rebuilt=False,
            )
        except (SQLAlchemyError, RedisError) as exc:  # the next look tries again
            log.warning("callbacks of run %s not synced: %s", wiring.window.run_id, exc)


async def _publish_live(wiring: _Wiring, session: DialSession) -> None:
    """The session's calls now, for the wallboard (campaigns.calls.live), until cancelled."""
    publisher = wiring.agents
    while True:
        snapshot = session.snapshot()
        waits = session.waiting_seconds()
        live = LiveQueue(
            source="dial",
            name=publisher.campaign,
            ringing=len(snapshot.ringing),
            waiting=snapshot.waiting_live,
            longest_wait_s=max(waits, default=0.0),
            leads_left=None,
            updated_at=dt.datetime.now(dt.UTC),
        )
        try:
            await asyncio.to_thread(_write_live, wiring, live)
        except RedisError as exc:  # the wallboard misses a second; the calls go on
            log.debug("live figures of run %s not written: %s", wiring.window.run_id, exc)
        await asyncio.sleep(LIVE_EVERY_S)


def _write_live(wiring: _Wiring, live: LiveQueue) -> None:
    """Publish ``live`` with the hopper's leads left (both Redis round trips: in a thread)."""
    live = replace(live, leads_left=wiring.hopper.remaining())
    publish_live(wiring.agents.client, wiring.agents.namespace, live)


def _carry_over(wiring: _Wiring) -> int:
    """The slot's planned calls the floor did not reach go to the next slot's hopper.

    A failure is logged, not raised: the calls made are recorded, and the
    leads left are merely not dialed later in the day.
    """
    here = wiring.hopper
    try:
        moved = here.carry_over(RedisHopper(here.redis, here.run_id, here.slot + 1))
    except RedisError as exc:
        log.warning("run %s slot %s: leads left not carried over: %s", *_slot_of(wiring), exc)
        return 0
    if moved:
        log.info("run %s slot %s: %s leads carried to the next slot", *_slot_of(wiring), moved)
    return moved


def _close_callbacks(wiring: _Wiring) -> None:
    """The slot's callbacks nobody dialed are missed, with the reason (logged on failure)."""
    try:
        missed = close_slot(wiring.engine, wiring.hopper, wiring.window, dt.datetime.now(dt.UTC))
    except (SQLAlchemyError, RedisError) as exc:
        log.warning("callbacks of run %s slot %s not closed: %s", *_slot_of(wiring), exc)
        return
    if missed:
        log.warning("run %s slot %s: %s callbacks missed", *_slot_of(wiring), missed)


def _slot_of(wiring: _Wiring) -> tuple[int, int]:
    return wiring.window.run_id, wiring.window.slot


def _release(lease: SlotLease, redis: Redis, engine: Engine) -> None:
    """Give up the slot's lease and close the connections, whatever happened."""
    try:
        lease.release()
    except RedisError as exc:  # it expires by itself within LEASE_TTL_S
        log.warning("lease %s not released: %s", lease.key, exc)
    redis.close()
    engine.dispose()


def _timing(clock: Clock, slot: DialSlot) -> tuple[Callable[[], dt.datetime], float]:
    """The instant the guard judges, and how many real seconds are left to dial.

    A compressed shared clock says both. Without one, a slot with a
    ``time_scale`` is taken to start now (tests, the sandbox bench), and a
    real-time slot dials until its end, so a job resumed mid-slot stops on time.
    """
    if clock.sim_start is not None:
        return clock.now, clock.real_seconds_until(slot.slot_end)
    if slot.time_scale == 1:
        left = (slot.slot_end - dt.datetime.now(dt.UTC)).total_seconds()
        length = (slot.slot_end - slot.slot_start).total_seconds()
        return (lambda: dt.datetime.now(dt.UTC)), min(length, max(0.0, left))
    started = time.monotonic()

    def virtual_now() -> dt.datetime:
        return slot.slot_start + dt.timedelta(
            seconds=(time.monotonic() - started) * slot.time_scale
        )

    return virtual_now, slot.duration_s


def dial_session_job(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: run one slot's dial session; returns its report."""
    settings = Settings.load()
    slot = DialSlot.from_payload(payload)
    report = asyncio.run(run_dial_session(settings.dialer(), slot, clock=settings.clock()))
    log.info("dial session run %s slot %s: %s", slot.run_id, slot.slot, report.as_dict())
    return report.as_dict()


def enqueue_dial_session(
    queue: Queue,
    slot: DialSlot,
    *,
    at: dt.datetime | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    keep_finished: bool = False,
) -> Job:
    """Schedule the slot's session at ``at`` (default its start; now if that has passed).

    A job with the same id still queued, scheduled or running is returned as
    is; with ``keep_finished`` (a resync looking for sessions Redis lost) so is
    one that finished.
    """
    jid = job_id(slot)
    existing = reusable_job(queue, jid, keep_finished=keep_finished)
    if existing is not None:
        return existing
    when = at or slot.slot_start
    options: dict[str, Any] = {
        "job_id": jid,
        "failure_ttl": FAILURE_TTL_S,
        "result_ttl": RESULT_TTL_S,
        "job_timeout": int(slot.duration_s + DRAIN_S / slot.time_scale + 300),
        "retry": retry,
        "description": f"dial session run {slot.run_id} slot {slot.slot}",
    }
    if when > dt.datetime.now(dt.UTC):
        return queue.enqueue_at(when, JOB_FUNC, slot.to_payload(), **options)
    return queue.enqueue(JOB_FUNC, slot.to_payload(), **options)
