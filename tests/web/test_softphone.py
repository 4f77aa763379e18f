"""The softphone's credentials and provisioning, without a PBX.

Who gets SIP credentials is the softphone's throttle: Asterisk answers a
wrong password with 401 as often as it is asked (tests/web/test_softphone_browser.py
shows the refusal), so the password must be unguessable and reachable only
through a console session, whose login is throttled (tests/web/test_auth.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from cadencia.console.softphone_provision import render_endpoints, sip_password, softphone_agents
from campaigns.settings import ConfigError, Settings, SoftphoneSettings
from campaigns.storage.db import make_engine
from tests.support.clock import Clock
from tests.web.conftest import NOW, PASSWORD, Console, seed

KEY = "unit-test-softphone-key-" + "x" * 32
PHONE = SoftphoneSettings("wss://pbx.example:8089/ws", KEY, "cadencia", ("q1",))


@pytest.fixture()
def phone_console(database_url: str, web_redis: tuple[str, str]) -> Iterator[Console]:
    """The console with a softphone configured (no PBX: queue changes answer 503)."""
    redis_url, namespace = web_redis
    engine = make_engine(database_url)
    seed(engine, NOW)
    create_user(engine, "web1", PASSWORD, "agent", now=NOW, agent_id="web1",
                queue_interface="PJSIP/web1")  # fmt: skip
    clock = Clock(NOW)
    app = create_web_app(engine, redis_url=redis_url, namespace=namespace, clock=clock,
                         secure_cookies=False, softphone=PHONE)  # fmt: skip
    with TestClient(app) as client:
        yield Console(engine, None, namespace, clock, client)  # type: ignore[arg-type]
    engine.dispose()


def test_only_the_agent_gets_their_sip_credentials(phone_console: Console) -> None:
    client = phone_console.client
    # not logged in: the login page, no credentials
    anonymous = client.get("/agent/softphone/config", follow_redirects=False)
    assert anonymous.status_code in (303, 401) and "password" not in anonymous.text
    phone_console.login("mara")  # a manager
    assert client.get("/agent/softphone/config").status_code == 403
    client.cookies.clear()
    phone_console.login("ana")  # an agent on a desk phone (Local/agent1@agents/n)
    assert client.get("/agent/softphone/config").status_code == 403
    client.cookies.clear()
    phone_console.login("web1")
    got = client.get("/agent/softphone/config")
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    doc = got.json()
    assert doc["username"] == "web1" and doc["wss"] == PHONE.wss_url
    assert doc["password"] == sip_password(KEY, "web1") and len(doc["password"]) == 43
    assert doc["uri"] == "sip:web1@pbx.example"
    # the desktop has the softphone, and its CSP lets it reach the PBX's WSS alone
    page = client.get("/agent")
    assert 'id="softphone"' in page.text
    assert "connect-src 'self' wss://pbx.example:8089" in page.headers["content-security-policy"]
    # joining the queues needs the CSRF token; without a PBX it is a clear 503
    assert client.post("/agent/softphone/online").status_code == 403
    token = phone_console.csrf("/agent")
    refused = client.post("/agent/softphone/online", headers={"x-csrf-token": token})
    assert refused.status_code == 503 and "CADENCIA_SOFTPHONE" in refused.text


def test_endpoints_are_generated_from_the_users_table_without_passwords(database_url: str) -> None:
    engine = make_engine(database_url)
    seed(engine, NOW)  # ana and beto: agents on desk phones
    create_user(engine, "web1", PASSWORD, "agent", now=NOW, agent_id="web1",
                queue_interface="PJSIP/web1")  # fmt: skip
    create_user(engine, "odd", PASSWORD, "agent", now=NOW, agent_id="odd agent",
                queue_interface="PJSIP/odd agent")  # fmt: skip
    agents, skipped = softphone_agents(engine)
    engine.dispose()
    assert agents == ["web1"] and skipped == ["odd agent"]
    text = render_endpoints(agents, KEY, "cadencia")
    assert "[web1](cadencia-webrtc-agent)" in text and "[web1](cadencia-webrtc-agent-aor)" in text
    ha1 = hashlib.md5(f"web1:cadencia:{sip_password(KEY, 'web1')}".encode()).hexdigest()
    assert f"password_digest = md5:{ha1}" in text
    assert sip_password(KEY, "web1") not in text
    assert sip_password(KEY, "web1") != sip_password(KEY + "2", "web1")  # a new key, new passwords
    assert re.search(r"^password\s*=", text, re.M) is None


def test_softphone_settings_are_checked_at_load() -> None:
    assert Settings(CADENCIA_SOFTPHONE_WSS_URL=None).softphone() is None  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="wss://"):
        Settings(CADENCIA_SOFTPHONE_WSS_URL="ws://x/ws", CADENCIA_SOFTPHONE_KEY=KEY).softphone()  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="CADENCIA_SOFTPHONE_KEY"):
        Settings(CADENCIA_SOFTPHONE_WSS_URL="wss://x/ws").softphone()  # type: ignore[call-arg]
    loaded = Settings(  # type: ignore[call-arg]
        CADENCIA_SOFTPHONE_WSS_URL="wss://x:8089/ws",
        CADENCIA_SOFTPHONE_KEY=KEY,
        CADENCIA_SOFTPHONE_QUEUES="a, b",
    ).softphone()
    assert loaded is not None and loaded.queues == ("a", "b") and KEY not in repr(loaded)
