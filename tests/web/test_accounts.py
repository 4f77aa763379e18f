"""Admin actions on accounts, the admin log, the idle timeout and login throttling."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cadencia.console.security import (
    FIRST_DELAY,
    FREE_FAILURES_PER_ACCOUNT,
    IDLE_TIMEOUT,
    MAX_DELAY,
    MAX_FAILURES_PER_CLIENT,
    SESSION_LIFETIME,
    LoginThrottled,
    login,
)
from campaigns.storage.accounts import AdminAction, LoginThrottle
from tests.web.conftest import NOW, PASSWORD, Console

pytestmark = pytest.mark.redis
NEW_PASSWORD = "a brand new secret"


def _browser(console: Console, username: str, password: str = PASSWORD) -> TestClient:
    """Another browser (its own cookies) logged in as ``username``."""
    other = Console(
        console.engine,
        console.redis,
        console.namespace,
        console.clock,
        TestClient(console.client.app),
    )
    return other.login(username, password)


def _act(console: Console, username: str, action: str, **form: str) -> httpx.Response:
    """The admin (root, logged in on ``console.client``) does ``action`` to ``username``."""
    token = console.csrf("/admin/users")
    return console.client.post(
        f"/admin/users/{username}/{action}", data={"csrf": token, **form}, follow_redirects=False
    )


def _logged_out(client: TestClient) -> bool:
    response = client.get("/profile", follow_redirects=False)
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def _log(console: Console) -> list[tuple[str, str, str, str]]:
    a = AdminAction
    with console.engine.connect() as conn:
        rows = conn.execute(sa.select(a.actor, a.action, a.target, a.detail).order_by(a.id))
        return [tuple(r) for r in rows if r.action != "user_created"]  # type: ignore[misc]


def _can_log_in(console: Console, username: str, password: str = PASSWORD) -> int:
    other = TestClient(console.client.app)
    page = other.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = other.post(
        "/login",
        data={"username": username, "password": password, "csrf": token},
        follow_redirects=False,
    )
    return response.status_code


def test_deactivating_ends_the_sessions_at_once_and_reactivating_lets_back_in(
    console: Console,
) -> None:
    ana = _browser(console, "ana")
    assert ana.get("/agent/history").status_code == 200
    console.login("root")
    assert _act(console, "ana", "deactivate").status_code == 303
    assert _logged_out(ana)
    assert _can_log_in(console, "ana") == 401
    assert "Reactivate" in console.client.get("/admin/users").text
    assert _act(console, "ana", "reactivate").status_code == 303
    assert _can_log_in(console, "ana") == 303
    assert _log(console) == [("root", "deactivated", "ana", ""), ("root", "reactivated", "ana", "")]


def test_an_admin_cannot_deactivate_or_demote_their_own_account(console: Console) -> None:
    console.login("root")
    for action, form in (("deactivate", {}), ("role", {"role": "manager"})):
        refused = _act(console, "root", action, **form)
        assert refused.status_code == 422
        assert "You cannot deactivate your own account or change its role" in refused.text
    assert not _logged_out(console.client)
    assert _log(console) == []


def test_changing_the_role_ends_the_sessions_and_the_new_role_applies(console: Console) -> None:
    ana = _browser(console, "ana")
    console.login("root")
    refused = _act(console, "ana", "role", role="manager", agent_id="agent1")
    assert refused.status_code == 422 and "Only agents have an agent id" in refused.text
    assert not _logged_out(ana)
    assert _act(console, "ana", "role", role="manager").status_code == 303
    assert _logged_out(ana)
    again = _browser(console, "ana")
    assert again.get("/dashboard").status_code == 200
    assert again.get("/agent", follow_redirects=False).status_code == 403
    assert _log(console) == [("root", "role_changed", "ana", "agent -> manager")]
    taken = _act(
        console, "mara", "role", role="agent", agent_id="agent2", queue_interface="PJSIP/x"
    )
    assert taken.status_code == 422 and "The agent id agent2 is already taken." in taken.text


def test_setting_a_password_ends_the_sessions_and_only_the_new_one_works(
    console: Console,
) -> None:
    ana = _browser(console, "ana")
    console.login("root")
    short = _act(console, "ana", "password", password="short")
    assert short.status_code == 422 and "at least 10 characters" in short.text
    assert not _logged_out(ana)
    assert _act(console, "ana", "password", password=NEW_PASSWORD).status_code == 303
    assert _logged_out(ana)
    assert _can_log_in(console, "ana") == 401
    assert _can_log_in(console, "ana", NEW_PASSWORD) == 303
    assert _log(console) == [("root", "password_reset", "ana", "")]


def test_revoking_ends_every_session_of_that_account_only(console: Console) -> None:
    ana_desk, ana_phone, beto = (_browser(console, n) for n in ("ana", "ana", "beto"))
    console.login("root")
    assert _act(console, "ana", "revoke").status_code == 303
    assert _logged_out(ana_desk) and _logged_out(ana_phone)
    assert not _logged_out(beto) and not _logged_out(console.client)
    assert _log(console) == [("root", "sessions_revoked", "ana", "2")]
    assert _act(console, "nobody", "revoke").status_code == 422
    assert (
        console.client.post(
            "/admin/users/ana/explode", data={"csrf": console.csrf("/admin/users")}
        ).status_code
        == 404
    )


def test_only_admins_act_and_only_with_the_forms_token(console: Console) -> None:
    mara = console.login("mara")
    token = console.csrf("/dashboard")
    assert mara.post("/admin/users/ana/deactivate", data={"csrf": token}).status_code == 403
    console.client.cookies.clear()
    console.login("root")
    assert console.client.post("/admin/users/ana/deactivate", data={}).status_code == 403
    assert _log(console) == []


def test_the_admin_log_shows_who_did_what_to_whom_and_compliance_reads_it(
    console: Console,
) -> None:
    console.login("root")
    created = console.client.post(
        "/admin/users",
        data={
            "csrf": console.csrf("/admin/users"),
            "username": "nuevo",
            "password": PASSWORD,
            "role": "compliance",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    console.clock.now += dt.timedelta(minutes=5)
    _act(console, "nuevo", "role", role="manager")
    console.client.cookies.clear()
    cora = console.login("cora")
    page = cora.get("/admin/log")
    assert page.status_code == 200 and 'href="/admin/log"' in page.text  # in her navigation
    rows = page.text.split("<tr>")
    changed = next(r for r in rows if "role changed" in r)
    assert "root" in changed and "nuevo" in changed and "compliance" in changed
    assert "Manager" in changed or "manager" in changed
    assert rows.index(changed) < next(i for i, r in enumerate(rows) if "account created" in r)
    assert "command line" in page.text  # the seeded accounts, made by `cadencia users add`
    console.client.cookies.clear()
    console.login("mara")
    assert console.client.get("/admin/log", follow_redirects=False).status_code == 403


def test_a_session_unused_for_the_idle_timeout_ends(console: Console) -> None:
    client = console.login("mara")
    for _ in range(3):  # used every 29 minutes: still alive after an hour and a half
        console.clock.now += IDLE_TIMEOUT - dt.timedelta(minutes=1)
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
    console.clock.now += IDLE_TIMEOUT
    assert _logged_out(client)


def test_a_session_in_constant_use_still_ends_after_its_lifetime(console: Console) -> None:
    client = console.login("mara")
    step = IDLE_TIMEOUT - dt.timedelta(minutes=1)
    while console.clock.now + step < NOW + SESSION_LIFETIME:
        console.clock.now += step
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
    console.clock.now = NOW + SESSION_LIFETIME
    assert _logged_out(client)


def test_the_delay_doubles_per_failure_up_to_its_cap(console: Console) -> None:
    now, waits, tries = NOW, [], 0
    while len(waits) < 10:  # an outsider guessing at ana's account as fast as allowed
        client = f"10.0.0.{tries}"  # many addresses: the per-client limit does not stop them
        try:
            assert login(console.engine, "ana", "wrong password!", now=now, client=client) is None
            tries += 1
        except LoginThrottled as exc:
            waits.append(exc.retry_after_s)
            now += dt.timedelta(seconds=exc.retry_after_s)
    first, cap = int(FIRST_DELAY.total_seconds()), int(MAX_DELAY.total_seconds())
    assert tries == FREE_FAILURES_PER_ACCOUNT + 9  # one guess per wait, no more
    assert waits[:3] == [first, 2 * first, 4 * first]
    assert waits[-1] == cap and max(waits) == cap
    # However long it goes on, ana waits at most the cap: her right password then works.
    assert login(console.engine, "ana", PASSWORD, now=now, client="10.9.9.9") is not None


def test_parallel_guesses_get_no_extra_tries(console: Console) -> None:
    def guess(n: int) -> str:
        try:
            result = login(console.engine, "beto", "wrong password!", now=NOW, client=f"10.1.0.{n}")
        except LoginThrottled:
            return "throttled"
        return "tried" if result is None else "in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(16)))
    assert outcomes.count("tried") == FREE_FAILURES_PER_ACCOUNT
    assert outcomes.count("throttled") == 16 - FREE_FAILURES_PER_ACCOUNT
    with console.engine.connect() as conn:
        failures = conn.execute(
            sa.select(LoginThrottle.failures).where(LoginThrottle.key == "account:beto")
        ).scalar_one()
    assert failures == FREE_FAILURES_PER_ACCOUNT


def test_a_client_over_its_limit_is_refused_everywhere_but_others_are_not(
    console: Console,
) -> None:
    for n in range(MAX_FAILURES_PER_CLIENT):
        assert login(console.engine, f"guess{n}", "wrong!", now=NOW, client="10.2.0.1") is None
    with pytest.raises(LoginThrottled):
        login(console.engine, "mara", PASSWORD, now=NOW, client="10.2.0.1")
    assert login(console.engine, "mara", PASSWORD, now=NOW, client="10.2.0.2") is not None
    # A client's right passwords do not count against it.
    for _ in range(MAX_FAILURES_PER_CLIENT + 5):
        assert login(console.engine, "cora", PASSWORD, now=NOW, client="10.2.0.3") is not None
