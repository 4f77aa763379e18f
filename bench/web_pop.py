"""Screen-pop latency: a connect event published to Redis → the customer shown in Chromium.

    .venv/bin/python -m bench.web_pop [POPS]

Serves the console (SQLite, Redis DB 12 under a private namespace), logs an
agent in with headless Chromium, then POPS times publishes a connect event
and waits for ``#pop`` of that customer. Prints ONE JSON object (median and
max milliseconds). Meant for ``bench/`` (the lead's path).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import uuid

import redis
from playwright.sync_api import sync_playwright

from cadencia.console.app import create_web_app
from campaigns.agents.events import AgentEvent, end_wrap, publish_agent_event
from campaigns.storage.db import make_engine, migrate
from tests.web.browser import CHROMIUM_ARGS, LiveServer, ensure_chromium
from tests.web.conftest import PASSWORD, seed

REDIS_URL = "redis://127.0.0.1:6379/12"


def main() -> None:
    """Measure and print the JSON result."""
    pops = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    url = f"sqlite:///{tempfile.mkdtemp()}/pop.db"
    migrate(url)
    engine = make_engine(url)
    seed(engine, dt.datetime.now(dt.UTC))
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    app = create_web_app(engine, redis_url=REDIS_URL, namespace=namespace, secure_cookies=False)
    samples: list[float] = []
    with LiveServer(app) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS
        )
        page = browser.new_context(base_url=server.url).new_page()
        page.goto("/login")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login")
        page.wait_for_selector("#statebar[data-live=yes]")
        for n in range(pops):
            customer = ("C1", "C2")[n % 2]
            event = AgentEvent("connect", "agent1", dt.datetime.now(dt.UTC), customer_id=customer)
            start = time.perf_counter()
            publish_agent_event(client, event, namespace=namespace)
            page.wait_for_selector(f"#pop[data-customer={customer}]")
            samples.append((time.perf_counter() - start) * 1000)
            end_wrap(
                client, "agent1", state="ready", now=dt.datetime.now(dt.UTC), namespace=namespace
            )
            page.reload()
            page.wait_for_selector("#statebar[data-live=yes]")
        browser.close()
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()
    engine.dispose()
    print(
        json.dumps(
            {
                "bench": "web_screen_pop",
                "pops": len(samples),
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
