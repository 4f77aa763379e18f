"""Dispatching voice slots: the hopper is filled in plan order once, one job per slot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy.orm import Session

from campaigns.clock import Clock
from campaigns.dialing import (
    DialerSettings,
    DialSlot,
    LedgerGuard,
    LedgerSink,
    RedisHopper,
    job_id,
    pacing_config,
    voice_dispatcher,
)
from campaigns.dialing.job import abandon_history
from campaigns.queues import fetch_job, rq_queue
from campaigns.run.dispatch import dispatch_plan
from campaigns.storage.db import make_engine
from campaigns.storage.models import PlannedContact, Run
from dialer.abandon_budget import DayCount
from dialer.pacing import Mode
from dialer.session import CallResult, Lead
from tests.support.dialworld import make_world
from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.redis


def test_dispatch_plan_fills_the_hopper_and_schedules_one_session_per_slot(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    world = make_world(tmp_path, ["5550001", "5550002", "5550003"])
    with world.engine.begin() as conn:
        conn.execute(sa.update(PlannedContact).values(status="planned"))
    redis = Redis.from_url(private_redis.url)
    dial_queue = rq_queue("dialer", connection=redis)
    with Session(world.engine) as db:
        run = db.get(Run, world.run_id)
        assert run is not None
        db.expunge(run)
    # a compressed day: an hour slot lasts a minute, scheduled on the shared clock
    clock = Clock.compressed(dt.datetime.combine(run.day, dt.time(0), tzinfo=dt.UTC), 60.0)
    dispatcher = voice_dispatcher(dial_queue, clock=clock)
    report = dispatch_plan(
        world.engine, run, world.campaign, rq_queue("messages", connection=redis), voice=dispatcher
    )
    assert (report.voice_slots, report.voice_contacts) == (1, 3)
    hopper = RedisHopper(redis, world.run_id, 0)
    assert [lead.customer_id for lead in hopper.take(5)] == ["D0", "D1", "D2"]
    start = dt.datetime.combine(run.day, dt.time(0), tzinfo=dt.UTC)
    jid = job_id(DialSlot(world.run_id, 0, start, start + dt.timedelta(hours=1)))
    job = fetch_job(jid, redis)
    slot = DialSlot.from_payload(job.args[0])
    assert slot.slot_start == start and slot.duration_s == pytest.approx(60.0)
    # dispatching again (a resumed run) neither refills the hopper nor adds a job
    dispatcher(world.engine, run, world.campaign, 0, world.contacts())
    assert hopper.remaining() == 0 and dial_queue.get_job_ids() == [jid]
    with pytest.raises(ValueError, match="slot 5 is outside"):
        dispatcher(world.engine, run, world.campaign, 5, world.contacts())
    redis.close()


def test_worker_settings_round_trip_and_name_what_is_wrong(tmp_path: Path) -> None:
    settings = DialerSettings(
        database_url="sqlite:///x.db",
        redis_url="redis://127.0.0.1:1/0",
        ami_host="127.0.0.1",
        ami_port=5038,
        ami_username="cadencia",
        ami_secret="s3cret",
        channel_template="Local/{last7}@pstn",
        dial_queue="cadencia-test",
        dial_variables={"PSTN_RING": "1"},
        queue_wait_s=1,
        call_prefix="t1",
    )
    assert DialerSettings.from_env(settings.to_env()) == settings
    env = settings.to_env()
    with pytest.raises(ValueError, match="CADENCIA_AMI_SECRET"):
        DialerSettings.from_env({k: v for k, v in env.items() if k != "CADENCIA_AMI_SECRET"})
    with pytest.raises(ValueError, match="CADENCIA_AMI_PORT"):
        DialerSettings.from_env({**env, "CADENCIA_AMI_PORT": "five"})
    with pytest.raises(ValueError, match="CADENCIA_DIAL_VARIABLES"):
        DialerSettings.from_env({**env, "CADENCIA_DIAL_VARIABLES": "[1"})
    with pytest.raises(ValueError, match="missing field 'slot'"):
        DialSlot.from_payload({"run_id": 1})


def test_pacing_follows_the_campaign_with_times_scaled(tmp_path: Path) -> None:
    world = make_world(tmp_path, ["5550001"], mode="predictive", talk_minutes=3.0)
    config = pacing_config(world.campaign, time_scale=10.0)
    assert config.mode is Mode.PREDICTIVE and config.rule.max_rate == pytest.approx(0.03)
    assert config.priors.talk_mean == pytest.approx(18.0)
    # 10 s / 10 would be 1 s: a call needs real seconds to be answered, so 3 s at least
    assert config.priors.no_answer_timeout == pytest.approx(3.0)
    # the safe-harbour wait after AMD is the dialplan's 1 s, never scaled
    assert config.grace_seconds == 1.0


def test_the_abandon_budget_starts_from_what_the_ledger_already_holds(tmp_path: Path) -> None:
    world = make_world(tmp_path, ["5550001", "5550002", "5550003"])
    guard, sink = LedgerGuard(world.engine, world.campaign), LedgerSink(world.engine)
    now = dt.datetime.now(dt.UTC)
    for customer, outcome in (("D0", "conversation"), ("D1", "abandoned"), ("D2", "busy")):
        res = guard.reserve(Lead(world.keys()[customer], customer), now)
        assert res.attempt_id is not None
        sink.record(CallResult(res.attempt_id, outcome, now))
    history = abandon_history(world.engine, world.campaign, now.date(), 0)
    assert history == {now.date(): DayCount(live=2, abandoned=1)}


def test_a_slot_dispatched_again_after_redis_lost_it_never_reoffers_a_reserved_contact(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    world = make_world(tmp_path, ["5550001", "5550002"])
    with Session(world.engine) as db:
        run = db.get(Run, world.run_id)
        assert run is not None
        db.expunge(run)
    redis = Redis.from_url(private_redis.url)
    dispatcher = voice_dispatcher(rq_queue("dialer", connection=redis))
    dispatcher(world.engine, run, world.campaign, 0, world.contacts())
    (first,) = RedisHopper(redis, world.run_id, 0).take(1)
    assert LedgerGuard(world.engine, world.campaign).reserve(first, dt.datetime.now(dt.UTC)).allowed
    redis.close()
    private_redis.kill()
    private_redis.start()
    redis = Redis.from_url(private_redis.url)
    voice_dispatcher(rq_queue("dialer", connection=redis))(
        world.engine, run, world.campaign, 0, world.contacts()
    )
    hopper = RedisHopper(redis, world.run_id, 0)
    assert hopper.in_progress() == [first] and hopper.was_dialing(first)
    assert [lead.customer_id for lead in hopper.take(5)] == ["D1"]
    assert rq_queue("dialer", connection=redis).get_job_ids()  # the lost job is back
    redis.close()


@pytest.mark.parametrize("server", ["", "ast2"])
def test_cadencia_run_schedules_the_dial_sessions_on_the_campaigns_server_queue(
    private_redis: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    """The production driver dispatches voice too: one session per voice slot, on
    ``dialer`` or, when the campaign names its Asterisk server, ``dialer-<server>``."""
    from typer.testing import CliRunner

    from cadencia.cli import app
    from campaigns.storage.db import migrate
    from tests.faults.test_redis_restart import working_day
    from tests.run.test_planning import EXAMPLES, load_generated

    url = f"sqlite:///{tmp_path}/v.db"
    migrate(url)
    load_generated(url, 300, ("CL",))
    text = (EXAMPLES / "cl-consumo.toml").read_text(encoding="utf-8")
    if server:
        text = text.replace("[dialer]\n", f'[dialer]\nserver = "{server}"\n')
    campaign = tmp_path / "cl.toml"
    campaign.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CADENCIA_REDIS_URL", private_redis.url)
    day = working_day().isoformat()
    result = CliRunner().invoke(
        app, ["--db", url, "run", "--campaign", str(campaign), "--date", day]
    )
    assert result.exit_code == 0, result.output
    redis = Redis.from_url(private_redis.url)
    with make_engine(url).connect() as conn:
        voice = conn.execute(
            sa.select(PlannedContact.slot, PlannedContact.status).where(
                PlannedContact.channel == "voice"
            )
        ).all()
    assert voice and {status for _, status in voice} == {"dispatched"}
    name = f"dialer-{server}" if server else "dialer"
    sessions = set(ScheduledJobRegistry(queue=rq_queue(name, connection=redis)).get_job_ids())
    assert sessions == {f"dial-run1-s{slot}" for slot in {int(s) for s, _ in voice}}
    other = "dialer" if server else "dialer-ast2"
    assert not ScheduledJobRegistry(queue=rq_queue(other, connection=redis)).get_job_ids()
    redis.close()
