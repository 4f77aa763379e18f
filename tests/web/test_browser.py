"""The console in a real headless Chromium, with a real call through the sandbox Asterisk.

One scenario, as a shift would run it: an agent logs in, pauses and goes
ready (QueuePause in Asterisk), a call answered in the simulated phone network
is queued to that agent, the connect event pops the right customer on the
right agent's page, the agent saves a promise to pay, the ledger and the
customer's promises show it; a manager watches the dashboard move; a
compliance officer exports the timeline; agents get 403 on other customers.
``CADENCIA_SCREENSHOTS=<dir>`` also saves the three main pages there
(``tests/web/screenshots.py`` does it for docs/screenshots/).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from cadencia.console.app import create_web_app
from campaigns.agents.events import AgentEvent, publish_agent_event
from campaigns.ledger.chain import EVENTS, verify
from campaigns.portfolio.view import customer_360
from campaigns.run.state import advance, create_run
from campaigns.run.stored import plan_key
from campaigns.settings import AmiSettings
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import PlannedContact
from dialer.ami import AmiClient, AmiEvent
from sandbox import asterisk as sandbox
from tests.support.asterisk import reset_agents
from tests.web.browser import LiveServer
from tests.web.conftest import PASSWORD, pending_call, seed

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUEUE = "cadencia-test"
WAIT_MS = 15_000


def member_pause(state: sandbox.SandboxState, member: str) -> str | None:
    """The member's pause reason in the sandbox queue ("" paused without one), None if ready."""
    for line in sandbox.cli_command(state, f"queue show {QUEUE}"):
        if line.strip().startswith(f"{member} "):
            found = re.search(r"\(paused(?::([^)]*?))?(?: was \d+ secs? ago)?\)", line)
            return None if found is None else (found.group(1) or "").strip()
    raise AssertionError(f"{member} is not a member of {QUEUE}")


def until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` (a real component settles asynchronously); fail naming ``what``."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class CallBridge(threading.Thread):
    """Places one call through the sandbox and publishes its agent events, as the dial session.

    The call: ``Local/5550001@pstn`` (a person who answers) into
    ``cadencia-outbound`` with ``CADENCIA_QUEUE``; on ``AgentConnect`` for our
    call the connect event names the member that answered, on ``AgentComplete``
    the complete event follows.
    """

    def __init__(
        self, state: sandbox.SandboxState, redis_url: str, namespace: str, call: dict[str, Any]
    ) -> None:
        super().__init__(name="call-bridge", daemon=True)
        self.state, self.redis_url, self.namespace, self.call = state, redis_url, namespace, call
        self.connected_to: str | None = None
        self.completed = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(asyncio.wait_for(self._scenario(), 90))
        except BaseException as exc:  # reported by the test thread
            self.error = exc
        finally:
            self.completed.set()

    async def _scenario(self) -> None:
        publisher = redis.Redis.from_url(self.redis_url)
        call_id = f"web-{uuid.uuid4().hex[:12]}"
        done = asyncio.Event()

        async def on_event(event: AmiEvent) -> None:
            if event.get("Uniqueid") != call_id:
                return
            common = {k: self.call[k] for k in ("customer_id", "attempt_id", "run_id", "campaign")}
            now = dt.datetime.now(dt.UTC)
            if event.name == "AgentConnect":
                self.connected_to = event.get("MemberName")
                agent = self.connected_to or ""
                publish_agent_event(
                    publisher, AgentEvent("connect", agent, now, **common), namespace=self.namespace
                )
            elif event.name == "AgentComplete":
                agent = event.get("MemberName") or ""
                publish_agent_event(
                    publisher,
                    AgentEvent("complete", agent, now, **common),
                    namespace=self.namespace,
                )
                done.set()

        ami = AmiClient(self.state.host, self.state.port, self.state.username, self.state.secret)
        ami.add_event_handler(on_event)
        try:
            async with ami:
                await ami.originate(
                    "Local/5550001@pstn",
                    channel_id=call_id,
                    other_channel_id=f"{call_id}-far",
                    context="cadencia-outbound",
                    exten="s",
                    caller_id='"Cobranza" <6015550100>',
                    variables={
                        "CADENCIA_QUEUE": QUEUE,
                        "CADENCIA_ATTEMPT": str(self.call["attempt_id"]),
                        "CADENCIA_AMD": "no",
                        "PSTN_RING": "1",
                        "__AGENT_TALK": "4",
                    },
                )
                await done.wait()
        finally:
            publisher.close()


@pytest.fixture()
def shift(
    tmp_path: Path, web_redis: tuple[str, str], asterisk_sandbox: sandbox.SandboxState
) -> Iterator[dict[str, Any]]:
    """A seeded database with today's planned run, and the console served against the sandbox."""
    url = f"sqlite:///{tmp_path}/console.db"
    migrate(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    seed(engine, now)
    run_id = create_run(
        engine, EXAMPLES / "co-tarjetas.toml", now.date(), needs_approval=False, now=now
    )
    advance(engine, run_id, now=now)
    with engine.connect() as conn:
        planned = conn.execute(
            sa.select(PlannedContact.id).where(
                PlannedContact.run_id == run_id,
                PlannedContact.customer_id == "C1",
                PlannedContact.channel == "voice",
            )
        ).scalar()
    key = plan_key(int(planned)) if planned is not None else f"web-test:{uuid.uuid4().hex}"
    redis_url, namespace = web_redis
    ami = AmiSettings(
        asterisk_sandbox.host,
        asterisk_sandbox.port,
        asterisk_sandbox.username,
        asterisk_sandbox.secret,
    )
    reset_agents(asterisk_sandbox, ready=1, total=2)  # agent1 may take calls, agent2 is away
    app = create_web_app(
        engine, redis_url=redis_url, ami=ami, namespace=namespace, secure_cookies=False
    )
    with LiveServer(app) as server:
        yield {
            "engine": engine,
            "url": server.url,
            "redis_url": redis_url,
            "namespace": namespace,
            "run_id": run_id,
            "key": key,
            "planned": planned is not None,
        }
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

    # A debtor answers; the PBX queues the call to agent 1; the pop appears.
    at = dt.datetime.now(dt.UTC)
    attempt_id = pending_call(engine, "C1", at, shift["key"])
    bridge = CallBridge(
        asterisk_sandbox,
        shift["redis_url"],
        shift["namespace"],
        {
            "customer_id": "C1",
            "attempt_id": attempt_id,
            "run_id": shift["run_id"],
            "campaign": "co-tarjetas",
        },
    )
    bridge.start()
    agent.wait_for_selector("#pop[data-customer=C1]", timeout=WAIT_MS)
    assert bridge.connected_to == "agent1"
    assert agent.inner_text("#customer-name") == "María José Núñez"
    accounts = agent.inner_text("#accounts")
    assert "A1" in accounts and "A2" in accounts and "1500000.50 COP" in accounts
    assert "Buenos días, ¿hablo con María José Núñez?" in agent.inner_text("#script")
    assert "pending" in agent.inner_text("#history")
    shot(agent, "agent-desktop.png")

    # Nobody else sees C1: not agent 2's desktop, not by URL; nor agent 1 another customer.
    assert other.is_visible("#waiting")
    assert other.goto(f"{base}/agent/customer/C1").status == 403
    refused = agent.context.new_page()
    assert refused.goto(f"{base}/agent/customer/C2").status == 403
    refused.close()

    # The dashboard moves: agent 1 talking to C1 (and the planned call attempted).
    until(lambda: "talking" in manager.inner_text("#agents"), "the dashboard's agent board")
    if shift["planned"]:
        voice = manager.locator('.actual[data-channel="voice"]').first
        until(lambda: voice.inner_text() == "1", "the dashboard's attempted count")

    # The call ends: wrap-up holds agent 1 paused in the queue until the disposition.
    assert bridge.completed.wait(60) and bridge.error is None, bridge.error
    until(lambda: member_pause(asterisk_sandbox, "agent1") == "wrap-up", "the wrap-up pause")
    agent.wait_for_selector("#statebar[data-state=wrap]")

    # The agent records a promise on the card account.
    due = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)).isoformat()
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
    until(lambda: "250000.00" in manager.inner_text("#promises"), "the dashboard's promises")
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
