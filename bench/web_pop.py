"""Screen-pop latency: Asterisk's AgentConnect, as the dial session sees it → the customer shown.

    .venv/bin/python -m bench.web_pop [CALLS]

Starts a private sandbox Asterisk (its Debian root must be built: the test
suite's ``asterisk_sandbox`` fixture or ``cadencia sandbox`` builds and caches
it), a private redis-server, a SQLite database with CALLS debtors who answer,
and the console; logs agent1 in with headless Chromium. The production dial
session (``run_dial_session``) then calls the debtors; each answered call is
queued to agent1, the session publishes its connect event and the desktop pops
the debtor. Latency is from the ``AgentConnect`` of that call on an AMI
connection beside the session's (same Asterisk, same instant) to the moment
the page shows ``#pop`` of that debtor (a MutationObserver in the page; both
ends read this machine's wall clock). After each pop the agent saves a
disposition, which ends the wrap-up hold and lets the next call through.
Prints ONE JSON object (median and max milliseconds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from campaigns.dialing import run_dial_session
from campaigns.ledger.chain import EVENTS
from campaigns.settings import AmiSettings, DialerSettings
from dialer.ami import AmiClient, AmiEvent
from dialer.session import SessionReport, call_id_for
from sandbox import asterisk as sandbox
from tests.support.asterisk import reset_agents
from tests.support.dialworld import DialWorld, fill, make_world, sandbox_settings
from tests.support.redis_server import PrivateRedis
from tests.web.browser import CHROMIUM_ARGS, LiveServer, ensure_chromium
from tests.web.conftest import PASSWORD

# Records, in the page, when each customer's pop first appears (ms since the epoch).
POP_CLOCK = """
window.__pops = {};
new MutationObserver(function () {
  var pop = document.querySelector("#pop[data-customer]");
  if (pop && !(pop.dataset.customer in window.__pops)) {
    window.__pops[pop.dataset.customer] = Date.now();
  }
}).observe(document, {childList: true, subtree: true, attributes: true});
"""


class DialAndWatch(threading.Thread):
    """The dial session, and an AMI connection noting when each AgentConnect arrives."""

    def __init__(self, settings: DialerSettings, world: DialWorld) -> None:
        super().__init__(name="dial-session", daemon=True)
        self.settings, self.world = settings, world
        self.connects: dict[str, float] = {}  # call id -> ms since the epoch
        self.report: SessionReport | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.report = asyncio.run(self._main())
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    async def _main(self) -> SessionReport:
        s = self.settings
        watch = AmiClient(s.ami_host, s.ami_port, s.ami_username, s.ami_secret)

        async def note(event: AmiEvent) -> None:
            if event.name == "AgentConnect":
                self.connects.setdefault(event.get("Uniqueid") or "", time.time() * 1000)

        watch.add_event_handler(note)
        async with watch:
            options = {"tick_s": 0.1, "drain_s": 30.0}
            return await run_dial_session(s, self.world.slot, session_options=options)


def call_id_of(world: DialWorld, customer: str) -> str:
    """The ChannelId of the call the session placed to ``customer``."""
    with world.engine.connect() as conn:
        attempt = conn.execute(
            sa.select(EVENTS.c.id).where(EVENTS.c.idempotency_key == world.keys()[customer])
        ).scalar_one()
    return call_id_for(int(attempt), world.prefix)


def agent_page(browser: Any, base: str) -> Any:
    """agent1's desktop, logged in, its event stream open, pops timed in the page."""
    context = browser.new_context(base_url=base)
    context.add_init_script(POP_CLOCK)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#statebar[data-live=yes]")
    return page


def take_calls(page: Any, dial: DialAndWatch, world: DialWorld) -> list[float]:
    """Each pop's latency in ms; the agent dispositions every call until the session ends."""
    samples: list[float] = []
    while True:
        try:
            page.wait_for_selector("#pop[data-customer]", timeout=2_000)
        except Exception:  # Playwright's timeout: no call on the desktop now
            if not dial.is_alive():
                return samples
            continue
        customer = page.get_attribute("#pop", "data-customer")
        popped = page.evaluate(f"window.__pops[{json.dumps(customer)}]")
        call_id = call_id_of(world, customer)
        deadline = time.monotonic() + 5
        while call_id not in dial.connects and time.monotonic() < deadline:
            time.sleep(0.01)
        if popped is not None and call_id in dial.connects:
            samples.append(float(popped) - dial.connects[call_id])
        page.wait_for_selector("#statebar[data-state=wrap]", timeout=60_000)
        page.select_option("#result", "refusal")
        page.click("#save")
        # Saved: the desktop waits for the next call, or the next call has
        # already popped (a ready agent can be put through at once).
        shown_next = f"#waiting, #pop[data-customer]:not([data-customer={json.dumps(customer)}])"
        page.wait_for_selector(shown_next, timeout=30_000)


def measure(state: sandbox.SandboxState, redis_url: str, calls: int, tmp: Path) -> list[float]:
    """Serve the console, place ``calls`` calls through the dial session, time each pop."""
    world = make_world(tmp, ["5550001"] * calls)
    now = dt.datetime.now(dt.UTC)
    create_user(
        world.engine,
        "ana",
        PASSWORD,
        "agent",
        now=now,
        agent_id="agent1",
        queue_interface="Local/agent1@agents/n",
    )
    fill(world, redis_url)
    settings = sandbox_settings(world, state, redis_url, talk_s=1.0, ring_s=1.0)
    reset_agents(state, ready=1, total=2)  # one agent takes every call
    ami = AmiSettings(state.host, state.port, sandbox.CONSOLE_USER, state.console_secret)
    app = create_web_app(
        world.engine,
        redis_url=redis_url,
        ami=ami,
        namespace=settings.agent_namespace,
        secure_cookies=False,
    )
    with LiveServer(app) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS
        )
        page = agent_page(browser, server.url)
        dial = DialAndWatch(settings, world)
        dial.start()
        samples = take_calls(page, dial, world)
        dial.join(60)
        browser.close()
    world.engine.dispose()
    if dial.error is not None:
        raise dial.error
    return samples


def main() -> None:
    """Measure and print the JSON result."""
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    missing = sandbox.prerequisites_missing()
    if missing:
        sys.exit(f"bench.web_pop needs the Asterisk sandbox: {missing}")
    name = f"bench-pop-{os.getpid()}"
    state = sandbox.start(name, timeout=90.0)
    try:
        with PrivateRedis() as redis_server, tempfile.TemporaryDirectory() as tmp:
            samples = measure(state, redis_server.url, calls, Path(tmp))
    finally:
        sandbox.stop(name, keep_files=False)
    if not samples:
        sys.exit("bench.web_pop: no call reached the agent")
    print(
        json.dumps(
            {
                "bench": "web_screen_pop",
                "from": "AgentConnect",
                "to": "#pop shown",
                "calls": calls,
                "pops": len(samples),
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
