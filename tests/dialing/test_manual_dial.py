"""The agent dials: a manual dial and preview mode, from the desktop to the sandbox Asterisk.

The console guards and reserves the call and queues it; a dial worker (RQ's
``SimpleWorker`` here, with the dialer's settings in its environment, as
``cadencia worker`` runs it) places it agent first through the dialplan's
``cadencia-manual`` context and records its outcome; the console hears the
worker's ``connect``/``complete`` like a dial session's. Nothing in these
tests publishes an agent event or writes the ledger itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.agents.events import agent_call
from campaigns.dialing import RedisHopper, dispatch_voice_slot
from campaigns.dialing.job import session_queue_name
from campaigns.ledger.chain import EVENTS, verify
from campaigns.queues import fetch_job, rq_queue, rq_worker
from campaigns.run.stored import plan_key
from campaigns.settings import AmiSettings
from campaigns.storage.accounts import Disposition
from campaigns.storage.models import ContactPoint, Customer, PlannedContact, Run
from dialer.session import call_id_for
from sandbox.asterisk import CONSOLE_USER, SandboxState
from tests.support.asterisk import ThreadObserver, member_pause, reset_agents
from tests.support.dialworld import DialWorld, fill, make_world, sandbox_settings

PASSWORD = "correct horse battery"
AGENT_INTERFACE = "Local/agent1@agents/n"


@dataclass
class Desk:
    """A logged-in agent's browser on a console over the world's database."""

    world: DialWorld
    http: TestClient
    redis: Redis
    namespace: str

    def csrf(self) -> str:
        token = re.search(r'name="csrf" value="([^"]+)"', self.http.get("/agent").text)
        assert token is not None
        return token.group(1)

    def post(self, path: str, **data: str) -> object:
        return self.http.post(path, data={"csrf": self.csrf(), **data}, follow_redirects=False)


@pytest.fixture()
def desk_factory(dial_redis_url: str) -> Iterator[object]:
    opened: list[tuple[TestClient, Redis]] = []

    def make(world: DialWorld, namespace: str, ami: AmiSettings | None) -> Desk:
        create_user(world.engine, "ana", PASSWORD, "agent", now=dt.datetime.now(dt.UTC),
                    agent_id="agent1", queue_interface=AGENT_INTERFACE)  # fmt: skip
        app = create_web_app(
            world.engine, redis_url=dial_redis_url, ami=ami, namespace=namespace,
            secure_cookies=False,
        )  # fmt: skip
        http = TestClient(app)
        http.__enter__()
        redis = Redis.from_url(dial_redis_url)
        opened.append((http, redis))
        form = http.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        login = {"username": "ana", "password": PASSWORD, "csrf": token.group(1)}
        assert http.post("/login", data=login, follow_redirects=False).status_code == 303
        return Desk(world, http, redis, namespace)

    yield make
    for http, redis in opened:
        http.__exit__(None, None, None)
        redis.close()


def phone_point(world: DialWorld, customer_id: str) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(ContactPoint.id)
                .join(Customer, Customer.id == ContactPoint.customer_id)
                .where(Customer.external_id == customer_id, ContactPoint.kind == "phone")
            ).scalar_one()
        )


def voice_rows(world: DialWorld) -> list[sa.Row[tuple[object, ...]]]:
    with world.engine.connect() as conn:
        return list(conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)))


@pytest.mark.asterisk
@pytest.mark.redis
@pytest.mark.slow
def test_a_manual_dial_reaches_the_customer_and_the_agent(
    asterisk_sandbox: SandboxState,
    dial_redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    desk_factory: object,
) -> None:
    reset_agents(asterisk_sandbox, ready=2)
    world = make_world(tmp_path, ["5550001", "5550002"])
    # the agent's phone talks 6 s: long enough for the customer's 1-3 s of ringing
    settings = sandbox_settings(world, asterisk_sandbox, dial_redis_url, talk_s=6.0)
    for name, value in settings.to_env().items():  # the worker's environment
        monkeypatch.setenv(name, value)
    ami = AmiSettings(asterisk_sandbox.host, asterisk_sandbox.port, CONSOLE_USER,
                      asterisk_sandbox.console_secret)  # fmt: skip  # the console's AMI user
    desk = desk_factory(world, settings.agent_namespace, ami)  # type: ignore[operator]
    queue = rq_queue(session_queue_name(world.campaign), connection=desk.redis)
    try:
        with ThreadObserver(asterisk_sandbox) as observer:
            found = desk.http.get("/agent/search", params={"q": "debtor number0"}).text
            assert 'data-customer="D0"' in found
            opened = desk.post("/agent/open", customer_id="D0", run_id=str(world.run_id))
            assert opened.status_code == 303  # type: ignore[attr-defined]
            # while a customer is open the queue sends the agent no call
            assert member_pause(asterisk_sandbox, "agent1") == "preview"

            # D1's number while D0 is open: refused, nothing written, queued or dialed
            other = desk.post("/agent/dial", point_id=str(phone_point(world, "D1")))
            assert other.status_code == 403  # type: ignore[attr-defined]
            assert voice_rows(world) == [] and queue.count == 0

            dialed = desk.post("/agent/dial", point_id=str(phone_point(world, "D0")),
                               run_id=str(world.run_id))  # fmt: skip
            assert dialed.status_code == 303, dialed.text  # type: ignore[attr-defined]
            (attempt,) = voice_rows(world)  # record first: pending before any Originate
            assert (attempt.status, attempt.customer_id) == ("pending", "D0")
            assert attempt.idempotency_key.startswith("manual:agent1:")
            extra = json.loads(attempt.extra)
            assert (extra["dialer"], extra["autodialed"], extra["agent_guaranteed"]) == (
                "manual", False, True,
            )  # fmt: skip
            assert queue.count == 1
            rq_worker([queue], desk.redis, SimpleWorker).work(burst=True)
            job = fetch_job(f"manual-dial-a{attempt.id}", desk.redis)
            assert job.get_status() == "finished", job.latest_result()
            call_id = call_id_for(attempt.id, world.prefix)
            ours = [c for c in observer.channels if c.startswith(world.prefix)]
            assert ours == [call_id, f"{call_id}-agent"]  # the agent's phone, once

            # the worker recorded the conversation; the console heard its complete
            _, outcome = voice_rows(world)
            assert (outcome.resolves_id, outcome.outcome, outcome.agent) == (
                attempt.id, "conversation", "agent1",
            )  # fmt: skip
            assert outcome.duration_s > 0
            call = agent_call(desk.redis, "agent1", namespace=desk.namespace)
            assert (call.state, call.customer_id, call.attempt_id) == ("wrap", "D0", attempt.id)
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=15)
            while member_pause(asterisk_sandbox, "agent1") != "wrap-up":
                assert dt.datetime.now(dt.UTC) < deadline, "no wrap-up pause in the queue"

            # the disposition ties to the call; its outcome is already in the ledger
            saved = desk.post("/agent/customer/D0/disposition", party="right", result="refusal")
            assert saved.status_code == 303, saved.text  # type: ignore[attr-defined]
        assert len(voice_rows(world)) == 2
        with world.engine.connect() as conn:
            (disposition,) = conn.execute(sa.select(Disposition)).all()
        assert (disposition.attempt_id, disposition.run_id) == (attempt.id, world.run_id)
        assert member_pause(asterisk_sandbox, "agent1") is None  # ready again
        assert verify(world.engine).ok
    finally:
        reset_agents(asterisk_sandbox, ready=2)
        world.engine.dispose()


@pytest.mark.redis
def test_preview_shows_the_next_customer_and_a_skip_keeps_its_reason(
    dial_redis_url: str, tmp_path: Path, desk_factory: object
) -> None:
    world = make_world(tmp_path, ["5550001", "5550002"], mode="preview")
    fill(world, dial_redis_url)
    namespace = f"cadencia-test-{world.prefix}"
    desk = desk_factory(world, namespace, None)  # type: ignore[operator]
    page = desk.http.get("/agent").text
    assert f'data-run="{world.run_id}"' in page  # the preview campaign is offered

    assert desk.post("/agent/preview/next", run_id=str(world.run_id)).status_code == 303  # type: ignore[attr-defined]
    call = agent_call(desk.redis, "agent1", namespace=namespace)
    assert (call.state, call.customer_id, call.planned_id) == ("preview", "D0", world.planned["D0"])
    page = desk.http.get("/agent").text
    assert 'data-customer="D0"' in page and 'id="skip"' in page
    assert 'id="disposition"' not in page  # call or skip first
    blocked = desk.post("/agent/customer/D0/disposition", party="right", result="none")
    assert blocked.status_code == 409  # type: ignore[attr-defined]
    bad = desk.post("/agent/preview/skip", reason="bored")
    assert bad.status_code == 400  # type: ignore[attr-defined]
    skipped = desk.post("/agent/preview/skip", reason="paid or promised since the plan",
                        note="paid at the branch this morning")  # fmt: skip
    assert skipped.status_code == 303  # type: ignore[attr-defined]
    with world.engine.connect() as conn:
        row = conn.execute(
            sa.select(PlannedContact.status, PlannedContact.reason).where(
                PlannedContact.id == world.planned["D0"]
            )
        ).one()
    assert tuple(row) == (
        "skipped",
        "skipped by agent1: paid or promised since the plan (paid at the branch this morning)",
    )
    assert voice_rows(world) == []  # a skip is no contact: nothing in the ledger
    call = agent_call(desk.redis, "agent1", namespace=namespace)
    assert (call.state, call.customer_id) == ("ready", None)

    # the next one is D1; calling goes the manual dial's way, under the plan's key
    desk.post("/agent/preview/next", run_id=str(world.run_id))
    assert agent_call(desk.redis, "agent1", namespace=namespace).customer_id == "D1"
    called = desk.post("/agent/dial", point_id=str(phone_point(world, "D1")))
    assert called.status_code == 303  # type: ignore[attr-defined]
    (attempt,) = voice_rows(world)
    assert (attempt.idempotency_key, attempt.status) == (plan_key(world.planned["D1"]), "pending")
    assert json.loads(attempt.extra)["dialer"] == "preview"
    job = fetch_job(f"manual-dial-a{attempt.id}", desk.redis)
    assert job.func_name == "campaigns.dialing.manual_call.manual_dial_job"
    assert job.args[0]["planned_id"] == world.planned["D1"]
    # a second press is a replay of the plan's key: refused, not dialed twice
    again = desk.post("/agent/dial", point_id=str(phone_point(world, "D1")))
    assert again.status_code == 422 and "was already called" in again.text  # type: ignore[attr-defined]
    assert len(voice_rows(world)) == 1
    world.engine.dispose()


@pytest.mark.redis
def test_a_preview_campaign_gets_its_hopper_and_no_dial_session(
    dial_redis_url: str, tmp_path: Path
) -> None:
    world = make_world(tmp_path, ["5550001"], mode="preview")
    redis = Redis.from_url(dial_redis_url)
    queue = rq_queue("dialer", connection=redis)
    with world.engine.connect() as conn:
        run = Run(**conn.execute(sa.select(Run.__table__)).mappings().one())
    dispatch_voice_slot(queue, world.engine, run, world.campaign, 0, world.contacts())
    assert RedisHopper(redis, world.run_id, 0).remaining() == 1
    assert queue.count == 0 and len(queue.scheduled_job_registry) == 0
    redis.close()
    world.engine.dispose()
