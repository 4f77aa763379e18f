"""Call recording against the real sandbox Asterisk: record, pause (PCI), keep, play, purge.

A real dial session calls the debtor and puts them through to agent1; the
dialplan's MixMonitor records the bridged call; the agent pauses the
recording from the desktop (``POST /agent/recording/pause``) and forgets to
resume it, so the call desk resumes it after the campaign's ``pause_max_s``;
after the hang-up the desk keeps the file under the attempt's id, with its
SHA-256 in the ledger and in ``recordings``. A compliance officer plays it
back (logged), an agent is refused (403), and the retention job deletes it
once its campaign's ``retention_days`` have passed (recorded, the ledger row
kept).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from redis import Redis

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.agents.events import agent_call
from campaigns.calls.service import run_desk
from campaigns.dialing import run_dial_session
from campaigns.ledger.chain import EVENTS, verify
from campaigns.recordings.purge import purge
from campaigns.recordings.records import events_of
from campaigns.recordings.store import DirectoryStore
from campaigns.settings import AmiSettings, DeskSettings, RecordingSettings
from campaigns.storage.models import Recording, Run
from sandbox.asterisk import ADMIN_USER, CONSOLE_USER, SandboxState, cli_command
from tests.support.asterisk import Observer, reset_agents, run, until
from tests.support.console_login import PASSWORD, log_in
from tests.support.dialworld import sandbox_settings
from tests.support.ownerworld import make_mx_world, plan_slot

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
PAUSE_MAX_S = 5
RETENTION_DAYS = 30


def _actions(engine: sa.Engine, attempt_id: int) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in events_of(engine, attempt_id)]


def test_a_connected_call_is_recorded_paused_kept_played_and_purged(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    reset_agents(asterisk_sandbox, ready=1, total=2)  # agent1 takes the call
    world = make_mx_world(tmp_path, 1)
    with world.engine.begin() as conn:  # the campaign file as its manager wrote it
        toml = conn.execute(sa.select(Run.campaign_toml)).scalar_one()
        extra = f"\n[recording]\nannounce = true\npause_max_s = {PAUSE_MAX_S}\n"
        extra += f"retention_days = {RETENTION_DAYS}\n"
        conn.execute(sa.update(Run).values(campaign_toml=toml + extra))
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=14.0)
    namespace = settings.agent_namespace
    spool = Path(asterisk_sandbox.instance_dir) / "spool" / "monitor"
    store_dir = tmp_path / "kept"
    now = dt.datetime.now(dt.UTC)
    create_user(world.engine, "ana", PASSWORD, "agent", now=now,
                agent_id="agent1", queue_interface="Local/agent1@agents/n")  # fmt: skip
    create_user(world.engine, "olga", PASSWORD, "compliance", now=now)
    ami = AmiSettings(
        asterisk_sandbox.host, asterisk_sandbox.port, CONSOLE_USER, asterisk_sandbox.console_secret
    )
    console = create_web_app(
        world.engine, redis_url=dial_redis_url, ami=ami, namespace=namespace,
        secure_cookies=False, recording_dir=store_dir,
    )  # fmt: skip
    redis = Redis.from_url(dial_redis_url)
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)
    desk_settings = DeskSettings(
        settings, "cadencia-inbound", "MX", RecordingSettings(spool, store_dir, 365)
    )

    def kept() -> bool:
        with world.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(Recording)).scalar_one() > 0

    # What Asterisk itself reports, dialplan steps included (the harness's own
    # AMI user: the dialer's filters Newexten out).
    observer = Observer(
        replace(asterisk_sandbox, username=ADMIN_USER, secret=asterisk_sandbox.admin_secret)
    )

    async def scenario(client: TestClient, csrf: str) -> int:
        async with observer.client:
            return await call(client, csrf)

    async def call(client: TestClient, csrf: str) -> int:
        stop = asyncio.Event()
        desk = asyncio.create_task(run_desk(desk_settings, stop))
        session = asyncio.create_task(
            run_dial_session(settings, slot, session_options={"tick_s": 0.2})
        )
        await until(lambda: agent_call(redis, "agent1", namespace=namespace).state == "talking", 30)
        attempt = agent_call(redis, "agent1", namespace=namespace).attempt_id
        assert attempt is not None
        page = await asyncio.to_thread(client.get, "/agent")
        assert 'id="recording-pause"' in page.text  # offered while talking
        asked = await asyncio.to_thread(
            client.post, "/agent/recording/pause", data={"csrf": csrf}, follow_redirects=False
        )
        assert asked.status_code == 303  # once the desk confirmed the pause:
        assert "resumes+by+itself" in asked.headers["location"]
        # paused by the agent, then resumed by the desk's timer (the agent forgot)
        await until(lambda: ("paused", "ana") in _actions(world.engine, attempt), 10)
        await until(lambda: ("resumed", "timer") in _actions(world.engine, attempt), 15)
        await session
        await until(kept, 30)
        stop.set()
        await desk
        return attempt

    try:
        with TestClient(console) as agent_client:
            csrf = log_in(agent_client, "ana", "/agent")
            attempt = run(scenario(agent_client, csrf), limit=150)
            refused = agent_client.get("/compliance/recordings/1/audio")
    finally:
        redis.close()
        reset_agents(asterisk_sandbox, ready=2)
    assert refused.status_code == 403  # an agent never plays a recording
    (started,) = [
        e for e in observer.named("UserEvent") if e.get("UserEvent") == "CadenciaRecording"
    ]
    assert started.get("Attempt") == str(attempt)
    mutes = [(e.get("Channel"), e.get("State")) for e in observer.named("MixMonitorMute")]
    steps = [
        (e.get("Application"), e.get("AppData"))
        for e in observer.named("Newexten")
        if e.get("Channel") == started.get("Channel")
    ]
    # the notice ([recording] announce = true) before the agent, recorded from the bridge
    # (Newexten shows the step's data once substituted: the condition held)
    assert ("ExecIf", "1?Playback(conf-now-recording)") in steps
    assert any(app == "MixMonitor" and (data or "").endswith(",b") for app, data in steps)
    assert mutes == [(started.get("Channel"), "1"), (started.get("Channel"), "0")]

    with world.engine.connect() as conn:
        (rec,) = conn.execute(sa.select(Recording)).all()
        (row,) = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "recording")).all()
    assert (rec.attempt_id, rec.customer_id, rec.campaign) == (attempt, "D0", world.campaign.name)
    kept_file = store_dir / f"a{attempt}.wav"
    body = kept_file.read_bytes()
    assert rec.storage_key == kept_file.name and rec.bytes == len(body)
    assert rec.sha256 == hashlib.sha256(body).hexdigest()
    extra = json.loads(row.extra)
    assert (extra["attempt"], extra["sha256"], extra["bytes"]) == (attempt, rec.sha256, len(body))
    assert [p["action"] for p in extra["pauses"]] == ["paused", "resumed"]
    assert row.customer_id == "D0" and rec.ledger_event_id == row.id
    # 8 kHz 16-bit mono: the bridged talk (14 s) with the pause as silence, not cut
    assert body[:4] == b"RIFF" and (len(body) - 44) / 16000 > 8
    assert not list(spool.glob(f"cadencia-a{attempt}.*"))  # moved out of Asterisk's spool
    assert rec.retain_until == rec.recorded_at + dt.timedelta(days=RETENTION_DAYS)

    with TestClient(console) as officer:
        log_in(officer, "olga", "/compliance")
        timeline = officer.get("/compliance/customer/D0")
        assert f'data-recording="{rec.id}" data-state="ok"' in timeline.text
        played = officer.get(f"/compliance/recordings/{rec.id}/audio")
    assert played.status_code == 200 and hashlib.sha256(played.content).hexdigest() == rec.sha256
    assert ("played", "olga") in _actions(world.engine, attempt)

    purged = purge(world.engine, DirectoryStore(store_dir), now=rec.retain_until)
    assert [p.recording_id for p in purged] == [rec.id] and purged[0].file_found
    assert not kept_file.exists()
    with world.engine.connect() as conn:
        after = conn.execute(sa.select(Recording)).one()
        still = conn.execute(sa.select(EVENTS.c.id).where(EVENTS.c.kind == "recording")).all()
    assert after.deleted_at == rec.retain_until and "retention" in (after.deletion_reason or "")
    assert ("purged", "retention") in _actions(world.engine, attempt)
    assert len(still) == 1 and verify(world.engine).ok  # the ledger keeps its row, intact


SUPERVISORS = "cadencia-supervisors"


def _audio_s(path: Path) -> float:
    """Seconds of audio in a MixMonitor .wav (8 kHz, 16-bit, mono, 44-byte header)."""
    return (path.stat().st_size - 44) / 16000


@pytest.mark.parametrize("mode", ["blind", "attended"])
def test_the_recording_follows_a_transfer_on_the_same_file(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path, mode: str
) -> None:
    """The debtor's channel carries the MixMonitor: the supervisor's leg is on the same file,
    whether the agent hands the call over at once or consults the supervisor first."""
    reset_agents(asterisk_sandbox, ready=1, total=2)
    cli_command(asterisk_sandbox, "devstate change Custom:agent9 NOT_INUSE")
    cli_command(asterisk_sandbox, f"queue unpause member Local/agent9@agents/n queue {SUPERVISORS}")
    world = make_mx_world(tmp_path, 1)
    talk_s = 10.0  # agent1 would talk 10 s; the supervisor talks 10 s after the transfer
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=talk_s)
    namespace = settings.agent_namespace
    store_dir = tmp_path / "kept"
    spool = Path(asterisk_sandbox.instance_dir) / "spool" / "monitor"
    create_user(world.engine, "ana", PASSWORD, "agent", now=dt.datetime.now(dt.UTC),
                agent_id="agent1", queue_interface="Local/agent1@agents/n")  # fmt: skip
    ami = AmiSettings(
        asterisk_sandbox.host, asterisk_sandbox.port, CONSOLE_USER, asterisk_sandbox.console_secret
    )
    console = create_web_app(
        world.engine, redis_url=dial_redis_url, ami=ami, namespace=namespace,
        secure_cookies=False, transfer_queues=(SUPERVISORS,), recording_dir=store_dir,
    )  # fmt: skip
    redis = Redis.from_url(dial_redis_url)
    slot = plan_slot(world, 0, ["D0"], dial_redis_url)
    desk_settings = DeskSettings(
        settings, "cadencia-inbound", "MX", RecordingSettings(spool, store_dir, 365)
    )

    def state(agent: str) -> str:
        return agent_call(redis, agent, namespace=namespace).state

    def kept() -> int:
        with world.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(Recording)).scalar_one())

    async def scenario(client: TestClient, csrf: str) -> tuple[float, float, float]:
        clock = asyncio.get_running_loop().time
        stop = asyncio.Event()
        desk = asyncio.create_task(run_desk(desk_settings, stop))
        session = asyncio.create_task(
            run_dial_session(settings, slot, session_options={"tick_s": 0.2})
        )
        await until(lambda: state("agent1") == "talking", 30)
        connected = handed = clock()
        form = {"queue": SUPERVISORS, "mode": mode, "csrf": csrf}
        await asyncio.to_thread(client.post, "/agent/transfer", data=form)
        await until(lambda: state("supervisor1") == "talking", 20)
        if mode == "attended":  # the supervisor answered the consultation: hand over
            form = {"action": "complete", "csrf": csrf}
            await asyncio.to_thread(client.post, "/agent/transfer/finish", data=form)
            handed = clock()
        await until(lambda: state("supervisor1") == "wrap", 45)
        ended = clock()
        await session
        await until(lambda: kept() > 0, 30)
        stop.set()
        await desk
        return connected, handed, ended

    try:
        with TestClient(console) as client:
            csrf = log_in(client, "ana", "/agent")
            connected, handed, ended = run(scenario(client, csrf), limit=150)
    finally:
        redis.close()
        reset_agents(asterisk_sandbox, ready=2)
    assert kept() == 1  # one call, one recording
    with world.engine.connect() as conn:
        rec = conn.execute(sa.select(Recording)).one()
    audio = _audio_s(store_dir / rec.storage_key)
    # The supervisor's leg after the hand-over is in the file, and no more than the
    # call's bridged time (the events are seen within a poll: a second of slack).
    assert ended - handed - 1 < audio <= ended - connected + 2
    assert audio > 5  # not the first agent's few seconds alone


def test_an_inbound_call_is_recorded_under_its_inbound_attempt(
    asterisk_sandbox: SandboxState, dial_redis_url: str, tmp_path: Path
) -> None:
    """The inbound attempt is written when an agent answers; its recording is named by it."""
    reset_agents(asterisk_sandbox, ready=2)
    for agent in ("agent1", "agent2"):
        cli_command(
            asterisk_sandbox, f"queue unpause member Local/{agent}@agents/n queue cadencia-inbound"
        )
    world = make_mx_world(tmp_path, 1)
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url)
    store_dir = tmp_path / "kept"
    spool = Path(asterisk_sandbox.instance_dir) / "spool" / "monitor"
    desk_settings = DeskSettings(
        settings, "cadencia-inbound", "MX", RecordingSettings(spool, store_dir, 90)
    )

    def kept() -> int:
        with world.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(Recording)).scalar_one())

    async def scenario() -> str:
        stop = asyncio.Event()
        desk = asyncio.create_task(run_desk(desk_settings, stop))
        observer = Observer(asterisk_sandbox)
        call_id = f"in-{uuid.uuid4().hex[:10]}"
        async with observer.client:
            await asyncio.sleep(0.5)  # the desk logged in
            # The debtor's phone is the sandbox's talking person ([pstn] 5550001: it
            # sends audio; a channel sending nothing would leave nothing to record).
            await observer.client.originate(
                "Local/5550100@cadencia-inbound", channel_id=call_id,
                other_channel_id=f"{call_id}-in", context="pstn", exten="5550001",
                caller_id="Debtor <+525555550001>",
                variables={"PSTN_RING": "0.1", "PSTN_TALK": "8", "__AGENT_TALK": "4"},
            )  # fmt: skip
            await until(lambda: kept() > 0, 40)
        stop.set()
        await desk
        return f"{call_id}-in"

    uniqueid = run(scenario(), limit=90)
    with world.engine.connect() as conn:
        rec = conn.execute(sa.select(Recording)).one()
        attempt = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == rec.attempt_id)).one()
    assert attempt.idempotency_key == f"inbound:{uniqueid}" and attempt.direction == "inbound"
    assert rec.customer_id == "D0" and rec.campaign is None
    assert rec.storage_key == f"a{attempt.id}.wav" and _audio_s(store_dir / rec.storage_key) > 2
    # no campaign: the deployment's default retention (CADENCIA_RECORDING_RETENTION_DAYS)
    assert rec.retain_until == rec.recorded_at + dt.timedelta(days=90)
