"""The console in a real headless Chromium, with a real call placed by the dial session.

One scenario, as a shift would run it: an agent logs in, pauses and goes
ready (QueuePause in Asterisk); the production dial session
(``run_dial_session``, the dial job's body) dials today's planned call to C1
through the sandbox Asterisk, the simulated debtor answers and the queue puts
the call through to that agent; the session's connect event pops the right
customer, with every debt, on the right agent's page; when the call ends its
complete event holds the agent in wrap-up; the agent saves a promise to pay,
the ledger and the customer's promises show it; a manager watches the
dashboard move; a compliance officer exports the timeline; agents get 403 on
other customers. No test code publishes agent events.
``CADENCIA_SCREENSHOTS=<dir>`` also saves the three main pages there
(``tests/web/screenshots.py`` does it for docs/screenshots/).

The shift runs on a weekday morning in Bogotá whatever the real date (Ley
2300 allows no collection call on Sundays, holidays or at night): the console,
the guard and the ledger share a clock that starts at ``tests.web.conftest.NOW``
and ticks in real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis import Redis

from cadencia.console.app import create_web_app
from campaigns.dialing import DialerSettings, DialSlot, RedisHopper, run_dial_session
from campaigns.ledger.chain import EVENTS, verify
from campaigns.portfolio.view import customer_360
from campaigns.run.state import advance, create_run
from campaigns.run.stored import plan_key
from campaigns.settings import AmiSettings
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import ContactPoint, Customer, PlannedContact
from dialer.session import SessionReport
from sandbox import asterisk as sandbox
from tests.support.asterisk import member_pause, reset_agents
from tests.web.browser import LiveServer
from tests.web.conftest import NOW, PASSWORD, seed

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUEUE = "cadencia-test"
WAIT_MS = 30_000
# The sandbox's simulated network answers numbers ending 5550001 (docker/asterisk/test).
ANSWERING_PHONE = "+573005550001"


def until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` (a real component settles asynchronously); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class ShiftClock:
    """``start`` plus the real time elapsed since the shift began."""

    start: dt.datetime
    began: float = field(default_factory=time.monotonic)

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=time.monotonic() - self.began)


def c1_planned_call(engine: sa.Engine, run_id: int) -> tuple[int, int]:
    """C1's planned voice contact in the run (planned here if the optimiser did not): (id, slot)."""
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(PlannedContact.id, PlannedContact.slot).where(
                PlannedContact.run_id == run_id,
                PlannedContact.customer_id == "C1",
                PlannedContact.channel == "voice",
            )
        ).first()
        if found is not None:
            return int(found.id), int(found.slot)
        new_id = conn.execute(
            sa.insert(PlannedContact).values(
                run_id=run_id,
                customer_id="C1",
                channel="voice",
                slot=3,
                slot_start=NOW,
                rank=0,
                value=100.0,
                arm="optimised",
                status="dispatched",
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(new_id), 3


def answering_phone(engine: sa.Engine, customer_id: str) -> None:
    """Give the customer a phone the sandbox's simulated network answers."""
    with engine.begin() as conn:
        internal = conn.execute(
            sa.select(Customer.id).where(Customer.external_id == customer_id)
        ).scalar_one()
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.customer_id == internal, ContactPoint.kind == "phone")
            .values(value=ANSWERING_PHONE)
        )


class DialJob(threading.Thread):
    """The slot's production dial session (``run_dial_session``), run in a thread of its own
    because Playwright's sync driver owns the main thread's event loop."""

    def __init__(self, settings: DialerSettings, slot: DialSlot, wall: ShiftClock) -> None:
        super().__init__(name="dial-session", daemon=True)
        self.settings, self.slot, self.wall = settings, slot, wall
        self.report: SessionReport | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        options = {"tick_s": 0.2, "drain_s": 60.0}
        try:
            self.report = asyncio.run(
                run_dial_session(self.settings, self.slot, wall=self.wall, session_options=options)
            )
        except BaseException as exc:  # reported by the test thread
            self.error = exc


@pytest.fixture()
def shift(
    tmp_path: Path, dial_redis_url: str, asterisk_sandbox: sandbox.SandboxState
) -> Iterator[dict[str, Any]]:
    """Tuesday's planned run, C1's call in its Redis hopper, the console served on the sandbox.

    Console and dial session share the private Redis and one agent-event namespace.
    """
    url = f"sqlite:///{tmp_path}/console.db"
    migrate(url)
    engine = make_engine(url)
    clock = ShiftClock(NOW)
    seed(engine, NOW)
    answering_phone(engine, "C1")
    run_id = create_run(engine, EXAMPLES / "co-tarjetas.toml", NOW.date(), needs_approval=False,
                        now=NOW)  # fmt: skip
    advance(engine, run_id, now=NOW)
    planned, slot_no = c1_planned_call(engine, run_id)
    redis = Redis.from_url(dial_redis_url)
    RedisHopper(redis, run_id, slot_no).fill([(planned, "C1")])
    redis.close()
    namespace = f"cadencia-test-{uuid.uuid4().hex[:10]}"
    box = asterisk_sandbox
    settings = DialerSettings(
        database_url=url,
        redis_url=dial_redis_url,
        ami_host=box.host,
        ami_port=box.port,
        ami_username=box.username,
        ami_secret=box.secret,
        channel_template="Local/{last7}@pstn",
        dial_queue=QUEUE,
        dial_variables={"PSTN_RING": "1", "__AGENT_TALK": "4"},
        call_prefix=f"web{uuid.uuid4().hex[:8]}",
        agent_namespace=namespace,
    )
    # an hour's slot in a minute of real time; the session ends once C1's call is done
    slot = DialSlot(run_id, slot_no, NOW, NOW + dt.timedelta(hours=1), time_scale=60.0)
    reset_agents(box, ready=1, total=2)  # agent1 may take calls, agent2 is away
    ami = AmiSettings(box.host, box.port, sandbox.CONSOLE_USER, box.console_secret)
    app = create_web_app(engine, redis_url=dial_redis_url, ami=ami, namespace=namespace,
                         clock=clock, secure_cookies=False)  # fmt: skip
    with LiveServer(app) as server:
        yield {
            "engine": engine,
            "url": server.url,
            "clock": clock,
            "dial": DialJob(settings, slot, clock),
            "key": plan_key(planned),
        }
    reset_agents(box, ready=2)
    engine.dispose()


def log_in(chromium: Any, base: str, username: str) -> Any:
    """A fresh browser context logged in as ``username``; returns its page."""
    context = chromium.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    return page


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("CADENCIA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_shift_in_the_browser(
    browser: Any,
    shift: dict[str, Any],
    asterisk_sandbox: sandbox.SandboxState,
) -> None:
    engine, base = shift["engine"], shift["url"]

    # The manager opens the dashboard first, to watch it move.
    manager = log_in(browser, base, "mara")
    assert manager.url.endswith("/dashboard")
    assert "co-tarjetas" in manager.inner_text("#dash")
    assert "None yet." in manager.inner_text("#promises")

    # Agent 1 logs in, takes a break, then goes ready: QueuePause in Asterisk each time.
    agent = log_in(browser, base, "ana")
    assert agent.url.endswith("/agent")
    agent.select_option("#pause-reason", "break")
    agent.click("#pause")
    agent.wait_for_selector("#statebar[data-state=paused]")
    until(lambda: member_pause(asterisk_sandbox, "agent1") == "break", "agent1 paused: break")
    agent.click("#ready")
    agent.wait_for_selector("#statebar[data-state=ready]")
    until(lambda: member_pause(asterisk_sandbox, "agent1") is None, "agent1 unpaused")
    agent.wait_for_selector("#statebar[data-live=yes]")  # the event stream is open

    other = log_in(browser, base, "beto")  # agent 2, away from the queue
    assert other.url.endswith("/agent")

    # The dial session calls C1; the debtor answers; the PBX queues the call to
    # agent 1; the session's connect event pops C1 with every debt.
    dial: DialJob = shift["dial"]
    dial.start()
    agent.wait_for_selector("#pop[data-customer=C1]", timeout=WAIT_MS)
    with engine.connect() as conn:
        attempt_id = conn.execute(
            sa.select(EVENTS.c.id).where(EVENTS.c.idempotency_key == shift["key"])
        ).scalar_one()
    assert agent.inner_text("#customer-name") == "María José Núñez"
    accounts = agent.inner_text("#accounts")
    assert "A1" in accounts and "A2" in accounts and "COP1,500,000.50" in accounts
    assert "COP800,000" in accounts  # amounts as the viewer's locale writes them
    assert "Buenos días, ¿hablo con María José Núñez?" in agent.inner_text("#script")
    assert "pending" in agent.inner_text("#history")
    shot(agent, "agent-desktop.png")

    # Nobody else sees C1: not agent 2's desktop, not by URL; nor agent 1 another customer.
    assert other.is_visible("#waiting")
    assert other.goto(f"{base}/agent/customer/C1").status == 403
    refused = agent.context.new_page()
    assert refused.goto(f"{base}/agent/customer/C2").status == 403
    refused.close()

    # The dashboard moves: agent 1 with C1 (and the planned call attempted).
    until(lambda: "C1" in manager.inner_text("#agents"), "the dashboard's agent board")
    voice = manager.locator('.actual[data-channel="voice"]').first
    until(lambda: voice.inner_text() == "1", "the dashboard's attempted count")

    # The call ends: the session's complete event holds agent 1 paused in the
    # queue for wrap-up until the disposition.
    dial.join(90)
    assert not dial.is_alive() and dial.error is None, dial.error
    assert dial.report is not None and dict(dial.report.outcomes) == {"conversation": 1}
    until(lambda: member_pause(asterisk_sandbox, "agent1") == "wrap-up", "the wrap-up pause")
    agent.wait_for_selector("#statebar[data-state=wrap]")

    # The agent records a promise on the card account.
    due = (shift["clock"]().date() + dt.timedelta(days=7)).isoformat()
    agent.check("input[name=party][value=right]")
    agent.select_option("#result", "promise")
    agent.select_option("#promise_account", "A1")
    agent.fill("#amount", "250000")
    agent.fill("#due_on", due)
    agent.click("#save")
    agent.wait_for_selector("#notice")
    assert "Saved: promise for C1" in agent.inner_text("#notice")
    assert agent.is_visible("#waiting")
    until(lambda: member_pause(asterisk_sandbox, "agent1") is None, "agent1 ready after saving")

    # The ledger and the customer's promises show it.
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS.c.kind, EVENTS.c.outcome, EVENTS.c.agent, EVENTS.c.resolves_id)
            .where(EVENTS.c.customer_id == "C1")
            .order_by(EVENTS.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("attempt", None, None, None),
        ("attempt", "conversation", "agent1", attempt_id),
        ("promise", None, "agent1", None),
    ]
    assert verify(engine).ok
    promises = customer_360(engine, "C1")["promises"]
    assert [(p["amount"], p["due_on"], p["source"]) for p in promises] == [
        ("250000.00", due, "agent1")
    ]

    # The dashboard counts the promise.
    until(lambda: "COP250,000" in manager.inner_text("#promises"), "the dashboard's promises")
    shot(manager, "dashboard.png")

    # The compliance officer finds C1 and exports the timeline.
    officer = log_in(browser, base, "cora")
    officer.fill("#q", "C1")
    officer.click("#search")
    officer.click("#results a")
    officer.wait_for_selector("#timeline")
    timeline = officer.inner_text("#timeline")
    assert "promise" in timeline and "conversation" in timeline
    shot(officer, "compliance-timeline.png")
    with officer.expect_download() as info:
        officer.click("#export")
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("at,event_id,kind,channel")
    assert any(",promise,voice," in line and "agent1" in line for line in csv_text.splitlines())
    # and an agent is refused the compliance pages
    assert agent.goto(f"{base}/compliance/customer/C1").status == 403
