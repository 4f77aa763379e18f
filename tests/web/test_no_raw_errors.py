"""No page talks Python: every GET route, as each role, with Asterisk or Redis unreachable.

The console is started on a real database against an Asterisk manager that
refuses connections, and against a Redis that does; each GET route the app
declares is fetched as an agent, a manager, a compliance officer and an
admin. Every answer must be a page in the console's layout (navigation
kept), never a traceback, an exception's repr or FastAPI's JSON error body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
import redis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from cadencia.console.app import create_web_app
from campaigns.settings import AmiSettings
from campaigns.storage.db import make_engine
from tests.web.conftest import NOW, PASSWORD, USERS, Clock, Console, seed
from tests.web.test_pages import planned_run

pytestmark = pytest.mark.redis
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
UNREACHABLE_AMI = AmiSettings("127.0.0.1", 1, "cadencia", "secret")
RAW = re.compile(
    r"Traceback|\"detail\"|\w+Error\b|Errno|object at 0x|Internal Server Error|"
    r"\{'|\[\{\"(type|loc)\""
)
SKIPPED = {"/agent/events"}  # a server-sent-event stream: it never ends
FRAGMENTS = {"/agent/panel"}  # the screen pop's part of a page, which the page fetches


@dataclass
class Broken:
    """A console with one service down, and what it logged at startup."""

    console: Console
    app: FastAPI
    down: str
    startup_log: str


@pytest.fixture(params=["asterisk", "redis"])
def broken(
    request: pytest.FixtureRequest,
    database_url: str,
    web_redis: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Broken]:
    """The console with Asterisk (or Redis) unreachable."""
    redis_url, namespace = web_redis
    down = str(request.param)
    engine = make_engine(database_url)
    seed(engine, NOW)
    clock = Clock(NOW)
    app = create_web_app(
        engine,
        redis_url=f"redis://{CLOSED}/0" if down == "redis" else redis_url,
        ami=UNREACHABLE_AMI if down == "asterisk" else None,
        namespace=namespace,
        clock=clock,
        secure_cookies=False,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        with caplog.at_level(logging.WARNING, logger="cadencia.console"):
            http = TestClient(app, raise_server_exceptions=False)
            http.__enter__()
            # One request before anything else: the agent-event subscription is
            # then under way, and a shutdown right after startup cannot catch it
            # mid-connect (the subscription's cleanup would wait on that socket).
            assert http.get("/login").status_code == 200
        console = Console(engine, client, namespace, clock, http)
        yield Broken(console, app, down, caplog.text)
        http.__exit__(None, None, None)
    finally:
        client.close()
        engine.dispose()


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The app's API routes, through the routers it includes (none has a prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            yield from _api_routes(included.routes)


def _get_routes(app: FastAPI, run_id: int) -> list[str]:
    """Every GET route of the app, its path parameters filled with real ids."""
    values = {
        "customer_id": "C1",
        "raw_id": str(run_id),
        "run_id": str(run_id),
        "recording_id": "1",  # none: a page saying so
    }
    paths = []
    for route in _api_routes(app.routes):
        if "GET" in route.methods and route.path not in SKIPPED:
            paths.append(re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.path))
    return [*paths, "/runs/abc", "/runs/abc/report", "/compliance/audit?since=2026-13-01"]


def _check(path: str, response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    kind = response.headers.get("content-type", "")  # type: ignore[attr-defined]
    if kind.startswith(("image/png", "text/csv", "application/json")):
        assert status == 200, path  # the data itself; its failures are pages (below)
        return
    text = response.text  # type: ignore[attr-defined]
    assert kind.startswith("text/html"), (path, status, kind, text[:300])
    found = RAW.search(text)
    assert found is None, (path, status, found and found.group(0), text[-1500:])
    if path in FRAGMENTS and status == 200:
        return
    assert "<header>" in text and "console.css" in text, (path, status)  # the layout
    if not path.startswith("/login"):  # the login form is the one page without a menu
        assert "<nav>" in text and "Log out" in text, (path, status, text[-800:])
    found = RAW.search(text)
    assert found is None, (path, status, found and found.group(0), text[-1500:])


def test_every_route_as_every_role_answers_a_page(broken: Broken) -> None:
    console = broken.console
    run_id, _ = planned_run(console)
    paths = _get_routes(broken.app, run_id)
    assert len(paths) > 20
    for username in USERS:
        console.client.cookies.clear()
        console.login(username, PASSWORD)
        for path in paths:
            _check(path, console.client.get(path))


def test_ready_and_pause_without_the_service_say_what_to_do(broken: Broken) -> None:
    console = broken.console
    console.login("ana", PASSWORD)
    token = console.csrf("/agent/history")  # a page that needs neither service
    for action in ({"action": "ready"}, {"action": "pause", "reason": "break"}):
        response = console.client.post("/agent/state", data={"csrf": token, **action})
        assert response.status_code == 503, response.text[-800:]
        _check("/agent/state", response)
        setting = "CADENCIA_AMI_HOST" if broken.down == "asterisk" else "CADENCIA_REDIS_URL"
        assert setting in response.text and "administrator" in response.text


def test_the_server_warns_at_startup_of_what_is_missing(broken: Broken) -> None:
    if broken.down == "redis":
        assert "Redis is unreachable at CADENCIA_REDIS_URL" in broken.startup_log
        assert "CADENCIA_AMI_HOST is not set" in broken.startup_log
    else:  # configured, if unreachable: no warning about the setting
        assert "CADENCIA_AMI_HOST is not set" not in broken.startup_log
        assert "Redis is unreachable" not in broken.startup_log
