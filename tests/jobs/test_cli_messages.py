"""``cadencia messages`` end to end: enqueue a batch file, run a worker, list loose ends."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from compliance import Proposal, load_packs
from tests.support.messaging import World

pytestmark = pytest.mark.redis


def test_enqueue_then_worker_sends_the_batch(world: World, tmp_path: Path) -> None:
    batch = world.batch(["U0", "U1"], "email", batch_id="cli-1")
    path = tmp_path / "batches.json"
    path.write_text(json.dumps([batch.to_payload()]))
    runner = CliRunner()
    result = runner.invoke(app, ["messages", "enqueue", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (job,) = json.loads(result.stdout)
    assert job["job_id"] == "msg-cli-1" and job["messages"] == 2
    # Enqueueing the same batch again schedules nothing new.
    again = runner.invoke(app, ["messages", "enqueue", str(path), "--json"])
    assert json.loads(again.stdout)[0]["job_id"] == "msg-cli-1" and len(world.queue) == 1
    result = runner.invoke(app, ["messages", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert sorted(e.to_email for e in world.standin.state.sent_emails()) == [
        "mary0@example.com",
        "mary1@example.com",
    ]


def test_enqueue_names_the_bad_field(world: World, tmp_path: Path) -> None:
    payload = world.batch(["U0"]).to_payload()
    payload["channel"] = "fax"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    result = CliRunner().invoke(app, ["messages", "enqueue", str(path)])
    assert result.exit_code == 1
    assert "bad.json[0].channel" in result.output and "fax" in result.output
    assert len(world.queue) == 0


def test_pending_lists_attempts_without_an_outcome(world: World) -> None:
    now = dt.datetime.now(dt.UTC)
    (reserved,) = guard_and_reserve(
        world.engine,
        [
            ContactRequest(
                key="manual:U3:sms",
                proposal=Proposal(
                    at=now,
                    customer_id="U3",
                    debt_ids=("UA3",),
                    channel="sms",
                    timezones=("America/New_York",),
                    contact_point="+12125551003",
                    line_type="mobile",
                ),
                packs=load_packs("house"),
            )
        ],
        now=now,
    )
    assert reserved.allowed
    result = CliRunner().invoke(app, ["messages", "pending", "--older-than", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert [p["attempt_id"] for p in json.loads(result.stdout)] == [reserved.attempt_id]
