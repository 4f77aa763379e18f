"""The console in a real headless Chromium, through an agent's shift on the sandbox PBX.

One scenario, as two days of a shift would run them, every call placed or
routed by production code: the dial session (``run_dial_session``, the dial
job's body), the call desk (``run_desk``, what ``cadencia desk`` serves) and
the production dialplan. The test plays only the outside world: the debtor's
phone (the sandbox's simulated network answers numbers ending 5550001), the
agents' phones (simulated, they answer and talk), the debtor calling the
company back, the clock and the people at the keyboards.

Tuesday: an agent logs in, pauses and goes ready (QueuePause in Asterisk);
the dial session calls C1, the queue puts the call through to that agent and
the session's connect event pops C1, with every debt, on that agent's page
only; when the call ends the agent is held in wrap-up; the debtor asks to be
called back on Wednesday (a time outside Ley 2300's hours is refused, naming
the rule). Wednesday: the plan leaves C1 out (the callback is the day's
contact); the slot's dial session dials the callback at its time and it
reaches the same agent, while a second ready agent never gets C1; the agent
records a promise; the debtor calls the company number and the call pops on
the owner's desktop; the agent transfers it to the supervisor, whose desktop
pops the same customer. A manager watches the dashboard, a compliance
officer exports the timeline, agents get 403 on other customers. No test
code publishes agent events.
``CADENCIA_SCREENSHOTS=<dir>`` also saves the three main pages there
(``tests/web/screenshots.py`` does it for docs/screenshots/).

The shift runs on weekday mornings in Bogotá whatever the real date (Ley
2300 allows no collection call on Sundays, holidays or at night): the console,
the guard, the call desk and the ledger share a clock that starts at
``tests.web.conftest.NOW``, ticks in real time and jumps to Wednesday.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis import Redis

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.calls.service import run_desk
from campaigns.dialing import DialerSettings, DialSlot, RedisHopper, run_dial_session
from campaigns.dialing.callbacks import list_callbacks
from campaigns.ledger.chain import EVENTS, verify
from campaigns.portfolio.view import customer_360
from campaigns.run.state import advance, create_run
from campaigns.run.stored import plan_key
from campaigns.settings import AmiSettings, DeskSettings
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import ContactPoint, Customer, PlannedContact, RunCustomer
from dialer.session import SessionReport
from sandbox import asterisk as sandbox
from tests.support.asterisk import Observer, member_pause, reset_agents
from tests.web.browser import LiveServer, log_in
from tests.web.conftest import NOW, PASSWORD, seed

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUEUE = "cadencia-test"
WAIT_MS = 30_000
# The sandbox's simulated network answers numbers ending 5550001 (docker/asterisk/test).
ANSWERING_PHONE = "+573005550001"
COMPANY = "5550100"  # the sandbox's company number (the [cadencia-inbound] DID)
SUPERVISORS = "cadencia-supervisors"
BOGOTA = ZoneInfo("America/Bogota")
# Wednesday 09:30 in Bogotá, when the debtor asks to be called back (slot 2: 09:00-10:00).
CALLBACK_LOCAL = "2026-11-25T09:30"
CALLBACK_AT = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)


def until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` (a real component settles asynchronously); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class ShiftClock:
    """The shift's instant: where it started (or last jumped to) plus the real time since."""

    def __init__(self, start: dt.datetime) -> None:
        self._origin = (start, time.monotonic())

    def __call__(self) -> dt.datetime:
        start, began = self._origin
        return start + dt.timedelta(seconds=time.monotonic() - began)

    def jump_to(self, instant: dt.datetime) -> None:
        """The night passes: the clock goes on from ``instant`` (one assignment, thread-safe)."""
        self._origin = (instant, time.monotonic())


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


class InThread(threading.Thread):
    """A coroutine run to its end in a thread of its own (Playwright's sync driver owns
    the main thread's event loop); its result or error is kept for the test thread."""

    def __init__(self, name: str, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        super().__init__(name=name, daemon=True)
        self.make = make
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = asyncio.run(self.make())
        except BaseException as exc:  # reported by the test thread
            self.error = exc

    def finished(self, timeout: float) -> Any:
        """Wait for the end; the coroutine's result (its error raised in the test)."""
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def dial_job(settings: DialerSettings, slot: DialSlot, wall: ShiftClock) -> InThread:
    """The slot's production dial session (``run_dial_session``), not started."""
    options = {"tick_s": 0.2, "drain_s": 60.0}
    return InThread(
        "dial-session",
        lambda: run_dial_session(settings, slot, wall=wall, session_options=options),
    )


class CallDesk(InThread):
    """``cadencia desk``'s body (``run_desk``) until :meth:`stop`."""

    def __init__(self, settings: DeskSettings, wall: ShiftClock) -> None:
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.halt: asyncio.Event | None = None
        super().__init__("call-desk", lambda: self._serve(settings, wall))

    async def _serve(self, settings: DeskSettings, wall: ShiftClock) -> None:
        self.loop, self.halt = asyncio.get_running_loop(), asyncio.Event()
        self.ready.set()
        await run_desk(settings, self.halt, now=wall)

    def stop(self) -> None:
        """Set the desk's stop event from the test thread and wait for it to end."""
        assert self.loop is not None and self.halt is not None
        self.loop.call_soon_threadsafe(self.halt.set)
        self.finished(30)


def debtor_calls_in(box: sandbox.SandboxState, caller: str, *, stay_s: int, talk_s: int) -> None:
    """The outside world: the debtor dials the company number from ``caller``.

    The agents' simulated phones talk ``talk_s`` seconds once they answer.
    """

    async def call() -> None:
        observer = Observer(box)
        async with observer.client:
            await observer.client.originate(
                f"Local/{COMPANY}@cadencia-inbound",
                channel_id=f"in-{uuid.uuid4().hex[:10]}",
                application="Wait",
                data=str(stay_s),
                caller_id=f"Debtor <{caller}>",
                variables={"__AGENT_TALK": str(talk_s)},
            )

    InThread("debtor", call).start()  # Playwright's sync driver owns this thread's loop


@pytest.fixture()
def shift(
    tmp_path: Path, dial_redis_url: str, asterisk_sandbox: sandbox.SandboxState
) -> Iterator[dict[str, Any]]:
    """Tuesday's planned run, C1's call in its Redis hopper, the console served on the sandbox.

    Console, dial sessions and call desk share the private Redis and one agent-event namespace.
    """
    url = f"sqlite:///{tmp_path}/console.db"
    migrate(url)
    engine = make_engine(url)
    clock = ShiftClock(NOW)
    seed(engine, NOW)
    create_user(engine, "sol", PASSWORD, "agent", now=NOW, agent_id="supervisor1",
                queue_interface="Local/agent9@agents/n")  # fmt: skip
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
        # Only C1's number answers: another debtor's call reaching an agent
        # would make the routing this test checks a matter of luck.
        dial_variables={
            "PSTN_RING": "1",
            "__AGENT_TALK": "4",
            "PSTN_P_ANSWER": "0",
            "PSTN_P_MACHINE": "0",
        },
        call_prefix=f"web{uuid.uuid4().hex[:8]}",
        agent_namespace=namespace,
    )
    # an hour's slot in a minute of real time; the session ends once C1's call is done
    slot = DialSlot(run_id, slot_no, NOW, NOW + dt.timedelta(hours=1), time_scale=60.0)
    reset_agents(box, ready=1, total=2)  # agent1 may take calls, agent2 is away
    sandbox.cli_command(box, "devstate change Custom:agent9 UNAVAILABLE")
    ami = AmiSettings(box.host, box.port, sandbox.CONSOLE_USER, box.console_secret)
    app = create_web_app(
        engine,
        redis_url=dial_redis_url,
        ami=ami,
        namespace=namespace,
        clock=clock,
        secure_cookies=False,
        transfer_queues=(SUPERVISORS,),
    )
    with LiveServer(app) as server:
        yield {
            "engine": engine,
            "url": server.url,
            "clock": clock,
            "settings": settings,
            "dial": dial_job(settings, slot, clock),
            "key": plan_key(planned),
        }
    reset_agents(box, ready=2)
    # The supervisor ended in wrap-up (nobody saved their disposition): the next test finds
    # them ready, as the transfer test expects.
    sandbox.cli_command(box, f"queue unpause member Local/agent9@agents/n queue {SUPERVISORS}")
    engine.dispose()


def go_ready(page: Any, box: sandbox.SandboxState, member: str, queue: str = QUEUE) -> None:
    """The agent presses Ready: unpaused in Asterisk, the event stream open."""
    page.click("#ready")
    page.wait_for_selector("#statebar[data-state=ready]")
    until(lambda: member_pause(box, member, queue) is None, f"{member} unpaused")
    page.wait_for_selector("#statebar[data-live=yes]")


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("CADENCIA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def c1_rows(engine: sa.Engine) -> list[Any]:
    """C1's ledger rows in order."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(EVENTS).where(EVENTS.c.customer_id == "C1").order_by(EVENTS.c.id)
            ).all()
        )


def tuesday_call(
    shift: dict[str, Any], agent: Any, other: Any, manager: Any, box: sandbox.SandboxState
) -> int:
    """The dial session calls C1 and pops it on agent 1 only; returns the attempt's id."""
    engine, base = shift["engine"], shift["url"]
    dial: InThread = shift["dial"]
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
    report: SessionReport = dial.finished(90)
    assert dict(report.outcomes) == {"conversation": 1}
    until(lambda: member_pause(box, "agent1") == "wrap-up", "the wrap-up pause")
    agent.wait_for_selector("#statebar[data-state=wrap]")
    return int(attempt_id)


def ask_for_a_callback(agent: Any) -> None:
    """The debtor asks to be called back on Wednesday; 20:30 is refused by Ley 2300's hours."""
    for when in ("2026-11-25T20:30", CALLBACK_LOCAL):
        agent.check("input[name=party][value=right]")
        agent.select_option("#result", "callback")
        agent.fill("#callback_at", when)
        agent.click("#save")
        agent.wait_for_load_state()
        if when != CALLBACK_LOCAL:
            errors = agent.inner_text("#errors")
            assert "co-horario" in errors and "Ley 2300" in errors, errors
            assert agent.input_value("#callback_at") == when  # the form kept what was typed
    agent.wait_for_selector("#notice")
    assert "C1" in agent.inner_text("#notice")
    assert agent.is_visible("#waiting")


def wednesday_plan(engine: sa.Engine, clock: ShiftClock) -> int:
    """Wednesday's run, planned: C1 is left out, the callback being the day's contact."""
    wednesday = CALLBACK_AT.astimezone(BOGOTA).date()
    run_id = create_run(engine, EXAMPLES / "co-tarjetas.toml", wednesday, needs_approval=False,
                        now=clock())  # fmt: skip
    advance(engine, run_id, now=clock())
    with engine.connect() as conn:
        reason = conn.execute(
            sa.select(RunCustomer.left_out_reason).where(
                RunCustomer.run_id == run_id, RunCustomer.customer_id == "C1"
            )
        ).scalar_one()
    assert str(reason).startswith("callback: the customer asked agent1 to call back at 09:30")
    return run_id


def the_callback(
    shift: dict[str, Any], agent: Any, other: Any, run_id: int, box: sandbox.SandboxState
) -> None:
    """The slot's dial session dials the callback at its time; it reaches agent 1, not agent 2."""
    # Ley 2300's hours start at 07:00: 09:00-10:00 is the run's slot 2.
    start = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
    slot = DialSlot(run_id, 2, start, start + dt.timedelta(hours=1), time_scale=60.0)
    dial = dial_job(shift["settings"], slot, shift["clock"])
    dial.start()
    agent.wait_for_selector("#pop[data-customer=C1]", timeout=WAIT_MS)
    assert shift["clock"]() >= CALLBACK_AT  # at its time, not before
    assert other.is_visible("#waiting") and other.locator("#pop").count() == 0
    report: SessionReport = dial.finished(90)
    assert report.outcomes.get("conversation") == 1
    agent.wait_for_selector("#statebar[data-state=wrap]")
    (callback,) = list_callbacks(shift["engine"])
    assert (callback.agent, callback.status) == ("agent1", "done")
    assert other.locator("#pop").count() == 0


def promise(agent: Any, clock: ShiftClock, box: sandbox.SandboxState) -> str:
    """Agent 1 records a promise on the card account; returns its due date."""
    due = (clock().date() + dt.timedelta(days=7)).isoformat()
    agent.check("input[name=party][value=right]")
    agent.select_option("#result", "promise")
    agent.select_option("#promise_account", "A1")
    agent.fill("#amount", "250000")
    agent.fill("#due_on", due)
    agent.click("#save")
    agent.wait_for_selector("#notice")
    assert "Saved: promise for C1" in agent.inner_text("#notice")
    assert agent.is_visible("#waiting")
    until(lambda: member_pause(box, "agent1") is None, "agent1 ready after saving")
    return due


def inbound_and_transfer(
    shift: dict[str, Any], agent: Any, supervisor: Any, box: sandbox.SandboxState
) -> None:
    """C1 calls the company: the owner's desktop pops; the transfer, the supervisor's."""
    desk = CallDesk(DeskSettings(shift["settings"], "cadencia-inbound", "CO"), shift["clock"])
    desk.start()
    assert desk.ready.wait(10)
    time.sleep(1.0)  # the desk logged in to AMI
    try:
        debtor_calls_in(box, ANSWERING_PHONE, stay_s=60, talk_s=25)
        agent.wait_for_selector("#pop[data-customer=C1]", timeout=WAIT_MS)
        assert agent.inner_text("#customer-name") == "María José Núñez"
        agent.select_option("#transfer-queue", SUPERVISORS)
        agent.click("#transfer-button")
        supervisor.wait_for_selector("#pop[data-customer=C1]", timeout=WAIT_MS)
        assert supervisor.inner_text("#customer-name") == "María José Núñez"
        assert "A1" in supervisor.inner_text("#accounts")
        supervisor.wait_for_selector("#statebar[data-state=wrap]", timeout=60_000)
    finally:
        desk.stop()


def check_the_ledger(engine: sa.Engine, tuesday_attempt: int, due: str) -> None:
    """Every leg in the ledger, C1's calls only ever with agent 1 (and the supervisor)."""
    rows = c1_rows(engine)
    conversations = [
        (r.direction, r.agent) for r in rows if r.kind == "attempt" and r.outcome == "conversation"
    ]
    assert conversations == [
        ("outbound", "agent1"),  # Tuesday's planned call
        ("outbound", "agent1"),  # Wednesday's callback
        ("inbound", "agent1"),  # the debtor calling back
    ]
    assert rows[0].id == tuesday_attempt
    assert {r.agent for r in rows if r.agent} == {"agent1", "supervisor1"}
    (leg,) = [r for r in rows if r.kind == "transfer"]
    assert (leg.agent, leg.direction) == ("supervisor1", "inbound")
    assert json.loads(leg.extra)["from_agent"] == "agent1"
    assert [r.agent for r in rows if r.kind == "promise"] == ["agent1"]
    assert verify(engine).ok
    promises = customer_360(engine, "C1")["promises"]
    assert [(p["amount"], p["due_on"], p["source"]) for p in promises] == [
        ("250000.00", due, "agent1")
    ]


def test_a_shift_in_the_browser(
    browser: Any,
    shift: dict[str, Any],
    asterisk_sandbox: sandbox.SandboxState,
) -> None:
    engine, base, clock, box = shift["engine"], shift["url"], shift["clock"], asterisk_sandbox

    # Tuesday. The manager opens the dashboard first, to watch it move.
    manager = log_in(browser, base, "mara", PASSWORD)
    assert manager.url.endswith("/dashboard")
    assert "co-tarjetas" in manager.inner_text("#dash")
    assert "None yet." in manager.inner_text("#promises")

    # Agent 1 logs in, takes a break, then goes ready: QueuePause in Asterisk each time.
    agent = log_in(browser, base, "ana", PASSWORD)
    assert agent.url.endswith("/agent")
    agent.select_option("#pause-reason", "break")
    agent.click("#pause")
    agent.wait_for_selector("#statebar[data-state=paused]")
    until(lambda: member_pause(box, "agent1") == "break", "agent1 paused: break")
    go_ready(agent, box, "agent1")
    other = log_in(browser, base, "beto", PASSWORD)  # agent 2, away from the queue
    assert other.url.endswith("/agent")
    tuesday_attempt = tuesday_call(shift, agent, other, manager, box)
    ask_for_a_callback(agent)

    # Wednesday, 09:29:40 in Bogotá: the plan is made, everyone logs in again.
    clock.jump_to(CALLBACK_AT - dt.timedelta(seconds=20))
    for page in (manager, agent, other):
        page.context.close()
    run_id = wednesday_plan(engine, clock)
    manager = log_in(browser, base, "mara", PASSWORD)
    agent = log_in(browser, base, "ana", PASSWORD)
    go_ready(agent, box, "agent1")
    sandbox.cli_command(box, "devstate change Custom:agent2 NOT_INUSE")  # agent 2's phone is on
    other = log_in(browser, base, "beto", PASSWORD)
    go_ready(other, box, "agent2")
    the_callback(shift, agent, other, run_id, box)
    due = promise(agent, clock, box)
    until(lambda: "COP250,000" in manager.inner_text("#promises"), "the dashboard's promises")
    shot(manager, "dashboard.png")

    # The debtor calls the company back; the owner takes it and hands it to the supervisor.
    sandbox.cli_command(box, "devstate change Custom:agent9 NOT_INUSE")
    supervisor = log_in(browser, base, "sol", PASSWORD)
    go_ready(supervisor, box, "supervisor1", SUPERVISORS)
    inbound_and_transfer(shift, agent, supervisor, box)
    assert other.locator("#pop").count() == 0  # agent 2 never had C1
    check_the_ledger(engine, tuesday_attempt, due)

    # The compliance officer finds C1 and exports the timeline.
    officer = log_in(browser, base, "cora", PASSWORD)
    officer.fill("#q", "C1")
    officer.click("#search")
    officer.click("#results a")
    officer.wait_for_selector("#timeline")
    timeline = officer.inner_text("#timeline")
    assert "promise" in timeline and "conversation" in timeline and "transfer" in timeline
    shot(officer, "compliance-timeline.png")
    with officer.expect_download() as info:
        officer.click("#export")
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("at,event_id,kind,channel")
    assert any(",promise,voice," in line and "agent1" in line for line in csv_text.splitlines())
    # and an agent is refused the compliance pages
    assert agent.goto(f"{base}/compliance/customer/C1").status == 403
