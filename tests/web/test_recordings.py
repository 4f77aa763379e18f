"""Call recordings in the console and their retention, without a PBX.

Each recording is kept by the product's own ``campaigns.recordings.records.register``
(what the call desk calls when a call ends; tests/calls/test_recording_sandbox.py
runs it behind a real Asterisk) from a WAV file the test writes where
Asterisk would. Playback is for compliance officers only and logged; a file
missing or altered is shown as such and never played; the retention job
(``cadencia recordings purge``) deletes what is due and records it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from rq import SimpleWorker
from typer.testing import CliRunner

from cadencia.cli import app as cli
from cadencia.console.app import create_web_app
from campaigns.campaign import Recording as RecordingPolicy
from campaigns.ledger.chain import EVENTS, verify
from campaigns.queues import rq_queue, rq_worker
from campaigns.recordings.policy import recording_variables
from campaigns.recordings.purge import JOB_FUNCTION, QUEUE
from campaigns.recordings.records import events_of, register
from campaigns.recordings.store import DirectoryStore
from campaigns.storage.db import make_engine
from campaigns.storage.models import Recording
from tests.support.clock import Clock
from tests.web.conftest import NOW, Console, pending_call, seed

pytestmark = pytest.mark.redis


def wav(path: Path, seconds: float) -> Path:
    """A MixMonitor-like file: 8 kHz, 16-bit mono PCM (a tone, so it is not silent)."""
    frames = int(8000 * seconds)
    samples = b"".join(struct.pack("<h", 8000 if (i // 10) % 2 else -8000) for i in range(frames))
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(samples), b"WAVE", b"fmt ", 16, 1, 1,
        8000, 16000, 2, 16, b"data", len(samples),
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + samples)
    return path


@dataclass
class World:
    """The console with its recording store, and the spool Asterisk would write to."""

    console: Console
    store: Path
    spool: Path

    def recorded(self, key: str, *, retention_days: int = 365) -> int:
        """A finished call of C1 whose recording the desk kept; the recording's id."""
        engine = self.console.engine
        attempt = pending_call(engine, "C1", NOW, key)
        source = wav(self.spool / f"cadencia-a{attempt}.wav", 1.5)
        kept = register(
            engine, DirectoryStore(self.store), source, attempt,
            recorded_at=NOW, now=NOW, default_retention_days=retention_days,
        )  # fmt: skip
        assert kept is not None and not source.exists()  # moved out of the spool
        return kept.recording_id

    def row(self, recording_id: int) -> Any:
        with self.console.engine.connect() as conn:
            return conn.execute(sa.select(Recording).where(Recording.id == recording_id)).one()


@pytest.fixture()
def world(database_url: str, web_redis: tuple[str, str], tmp_path: Path) -> Iterator[World]:
    redis_url, namespace = web_redis
    engine = make_engine(database_url)
    seed(engine, NOW)
    clock = Clock(NOW)
    store = tmp_path / "kept"
    app = create_web_app(
        engine, redis_url=redis_url, namespace=namespace, clock=clock,
        secure_cookies=False, recording_dir=store,
    )  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    try:
        with TestClient(app) as http:
            yield World(Console(engine, client, namespace, clock, http), store, tmp_path / "spool")
    finally:
        client.close()
        engine.dispose()


def test_the_ledger_row_and_the_recording_row_hold_the_files_sha256(world: World) -> None:
    recording_id = world.recorded("call-1")
    rec = world.row(recording_id)
    body = (world.store / rec.storage_key).read_bytes()
    assert rec.sha256 == hashlib.sha256(body).hexdigest() and rec.bytes == len(body)
    with world.console.engine.connect() as conn:
        row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == rec.ledger_event_id)).one()
    extra = json.loads(row.extra)
    assert (row.kind, row.customer_id, row.channel) == ("recording", "C1", "voice")
    assert (extra["sha256"], extra["bytes"], extra["attempt"]) == (
        rec.sha256,
        len(body),
        rec.attempt_id,
    )
    # a second registration of the same call (an event delivered twice) writes nothing
    again = register(
        world.console.engine, DirectoryStore(world.store), wav(world.spool / "x.wav", 1),
        rec.attempt_id, recorded_at=NOW, now=NOW, default_retention_days=365,
    )  # fmt: skip
    assert again is None
    assert verify(world.console.engine).ok


@pytest.mark.parametrize("username", ["ana", "mara", "root"])
def test_nobody_but_a_compliance_officer_plays_a_recording(world: World, username: str) -> None:
    recording_id = world.recorded("call-1")
    world.console.login(username)
    refused = world.console.client.get(f"/compliance/recordings/{recording_id}/audio")
    assert refused.status_code == 403
    assert events_of(world.console.engine, world.row(recording_id).attempt_id) == []


def test_an_officer_plays_it_back_checked_and_every_playback_is_logged(world: World) -> None:
    recording_id = world.recorded("call-1")
    rec = world.row(recording_id)
    world.console.login("cora")
    page = world.console.client.get("/compliance/customer/C1")
    assert f'data-recording="{recording_id}" data-state="ok"' in page.text
    assert f'src="/compliance/recordings/{recording_id}/audio"' in page.text
    for _ in range(2):
        played = world.console.client.get(f"/compliance/recordings/{recording_id}/audio")
        assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
        assert hashlib.sha256(played.content).hexdigest() == rec.sha256
    log = events_of(world.console.engine, rec.attempt_id)
    assert [(e.action, e.actor, e.recording_id) for e in log] == [
        ("played", "cora", recording_id)
    ] * 2
    assert all(e.at == NOW for e in log)


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_missing_or_altered_file_shows_as_such_and_is_never_played(
    world: World, damage: str
) -> None:
    recording_id = world.recorded("call-1")
    rec = world.row(recording_id)
    kept = world.store / rec.storage_key
    if damage == "altered":
        body = bytearray(kept.read_bytes())
        body[1000] ^= 0xFF  # one byte of audio changed, the size the same
        kept.write_bytes(bytes(body))
    else:
        kept.unlink()
    world.console.login("cora")
    page = world.console.client.get("/compliance/customer/C1")
    assert f'data-recording="{recording_id}" data-state="{damage}"' in page.text
    assert "/audio" not in page.text
    refused = world.console.client.get(f"/compliance/recordings/{recording_id}/audio")
    assert refused.status_code == 409 and damage in refused.text
    (logged,) = events_of(world.console.engine, rec.attempt_id)
    assert (logged.action, logged.actor) == ("refused", "cora") and damage in logged.detail


def test_the_retention_job_deletes_what_is_due_and_records_each_deletion(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = world.recorded("call-1", retention_days=10)
    long = world.recorded("call-2", retention_days=400)
    monkeypatch.setenv("CADENCIA_RECORDING_DIR", str(world.store))
    at = (NOW + dt.timedelta(days=30)).isoformat()
    result = CliRunner().invoke(
        cli, ["--db", database_url, "recordings", "purge", "--now", at, "--json"]
    )
    assert result.exit_code == 0, result.output
    (purged,) = json.loads(result.stdout)["purged"]
    assert (purged["recording_id"], purged["file_found"]) == (short, True)
    gone, kept = world.row(short), world.row(long)
    assert not (world.store / gone.storage_key).exists()
    assert (world.store / kept.storage_key).exists() and kept.deleted_at is None
    assert gone.deleted_at == NOW + dt.timedelta(days=30)
    assert gone.deletion_reason is not None and "retention" in gone.deletion_reason
    (logged,) = events_of(world.console.engine, gone.attempt_id)
    assert (logged.action, logged.actor, logged.recording_id) == ("purged", "retention", short)
    # run again: nothing more is due, nothing is recorded twice
    again = CliRunner().invoke(
        cli, ["--db", database_url, "recordings", "purge", "--now", at, "--json"]
    )
    assert json.loads(again.stdout)["purged"] == []
    # the ledger keeps the recording's row (append-only) and still verifies
    assert verify(world.console.engine).ok
    world.console.login("cora")
    page = world.console.client.get("/compliance/customer/C1")
    assert f'data-recording="{short}" data-state="deleted"' in page.text


def test_an_agent_without_a_call_cannot_pause_a_recording(world: World) -> None:
    world.console.login("ana")
    token = world.console.csrf("/agent")
    refused = world.console.client.post("/agent/recording/pause", data={"csrf": token})
    assert refused.status_code == 409
    assert world.console.redis.llen(f"{world.console.namespace}:recording-requests") == 0


def test_the_retention_job_runs_in_a_worker_on_its_queue(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``purge_job`` on the ``recordings`` queue (a JSON job), as a schedule would queue it."""
    due = world.recorded("call-1", retention_days=1)  # NOW + 1 day: past on the wall clock
    monkeypatch.setenv("CADENCIA_DATABASE_URL", database_url)
    monkeypatch.setenv("CADENCIA_RECORDING_DIR", str(world.store))
    queue = rq_queue(QUEUE, world.console.redis)
    queue.empty()
    job = queue.enqueue(JOB_FUNCTION, {})
    rq_worker([QUEUE], world.console.redis, SimpleWorker).work(burst=True)
    job.refresh()
    result = job.return_value()
    assert result is not None and [p["recording_id"] for p in result["purged"]] == [due]
    assert world.row(due).deleted_at is not None


def test_a_campaigns_recording_section_becomes_its_calls_channel_variables() -> None:
    """What the dial session puts on each call for ``[cadencia-record]`` (docs/recording.md)."""
    assert recording_variables(RecordingPolicy()) == {}  # recorded, no notice
    assert recording_variables(RecordingPolicy(announce=True)) == {"CADENCIA_ANNOUNCE": "yes"}
    assert recording_variables(RecordingPolicy(enabled=False)) == {"CADENCIA_RECORD": "no"}
    with pytest.raises(ValueError, match="pause_max_s"):
        RecordingPolicy(pause_max_s=3600)
