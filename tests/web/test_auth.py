"""Logins, sessions, CSRF and the role of every page, over real HTTP to the app."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from cadencia.console.security import (
    FIRST_DELAY,
    FREE_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_CLIENT,
    THROTTLE_WINDOW,
    AccountError,
    create_user,
    hash_password,
    verify_password,
)
from tests.web.conftest import PASSWORD, Console

pytestmark = pytest.mark.redis

# The admin may open every page, but the desktop needs a queue member, which
# an admin account is not bound to: 403 there too.
PAGES = {
    "/agent": {"agent"},
    "/agent/history": {"agent"},
    "/dashboard": {"manager", "admin"},
    "/dashboard/data.json": {"manager", "admin"},
    "/compliance": {"compliance", "admin"},
    "/compliance/customer/C1": {"compliance", "admin"},
    "/compliance/customer/C1/timeline.csv": {"compliance", "admin"},
    "/compliance/audit": {"compliance", "admin"},
    "/compliance/ledger": {"compliance", "admin"},
    "/admin/users": {"admin"},
}
ROLE_OF = {"ana": "agent", "mara": "manager", "cora": "compliance", "root": "admin"}


def test_passwords_are_argon2id_hashes() -> None:
    stored = hash_password("s3cret password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "s3cret password")
    assert not verify_password(stored, "s3cret passwore")
    assert not verify_password("not a hash", "s3cret password")


def test_wrong_password_and_unknown_user_are_refused_alike(console: Console) -> None:
    for username in ("ana", "nobody"):
        token = console.csrf("/login")
        response = console.client.post(
            "/login",
            data={"username": username, "password": "wrong password!", "csrf": token},
            follow_redirects=False,
        )
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert "cadencia_session" not in response.cookies


def test_login_without_its_csrf_token_is_refused(console: Console) -> None:
    console.client.get("/login")
    response = console.client.post(
        "/login",
        data={"username": "ana", "password": PASSWORD, "csrf": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_every_page_checks_the_role(console: Console) -> None:
    for username, role in ROLE_OF.items():
        console.client.cookies.clear()
        client = console.login(username)
        for path, allowed in PAGES.items():
            response = client.get(path, follow_redirects=False)
            expected = 200 if role in allowed else 403
            assert response.status_code == expected, (username, path, response.text[:300])


def test_no_session_goes_to_the_login_page(console: Console) -> None:
    for path in PAGES:
        response = console.client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_posts_need_the_session_csrf_token(console: Console) -> None:
    client = console.login("ana")
    for data in ({"action": "pause", "reason": "break"}, {"csrf": "wrong", "action": "pause"}):
        response = client.post("/agent/state", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "CSRF" in response.text
    # the right token passes the check and reaches the PBX step (none configured here)
    token = console.csrf("/agent")
    response = client.post(
        "/agent/state", data={"csrf": token, "action": "pause", "reason": "break"}
    )
    assert response.status_code == 503
    assert (
        "No Asterisk manager is configured" in response.text
        and "CADENCIA_AMI_HOST" in response.text
    )


def test_logout_ends_the_session_and_expiry_too(console: Console) -> None:
    client = console.login("mara")
    assert client.get("/dashboard").status_code == 200
    token = console.csrf("/dashboard")
    client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303

    client = console.login("mara")
    console.clock.now += dt.timedelta(hours=12, seconds=1)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_accounts_are_checked_when_created(console: Console) -> None:
    now = console.clock.now
    with pytest.raises(AccountError, match="already taken"):
        create_user(console.engine, "ana", PASSWORD, "manager", now=now)
    with pytest.raises(AccountError, match="queue member"):
        create_user(console.engine, "eva", PASSWORD, "agent", now=now)
    with pytest.raises(AccountError, match="at least 10"):
        create_user(console.engine, "eva", "short", "manager", now=now)
    with pytest.raises(AccountError, match="Role boss"):
        create_user(console.engine, "eva", PASSWORD, "boss", now=now)


def test_admin_adds_an_account_through_the_form(console: Console) -> None:
    client = console.login("root")
    token = console.csrf("/admin/users")
    response = client.post(
        "/admin/users",
        data={"csrf": token, "username": "eva", "password": "short", "role": "manager"},
    )
    assert response.status_code == 422 and "at least 10" in response.text
    response = client.post(
        "/admin/users",
        data={"csrf": token, "username": "eva", "password": PASSWORD, "role": "manager"},
    )
    assert response.status_code == 200 and "eva" in response.text
    client.cookies.clear()
    assert console.login("eva").get("/dashboard").status_code == 200


def test_pages_forbid_framing_and_foreign_scripts(console: Console) -> None:
    response = console.login("mara").get("/dashboard")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = console.client.cookies.jar
    (session,) = [c for c in cookie if c.name == "cadencia_session"]
    assert session.has_nonstandard_attr("HttpOnly")
    assert "<script>" not in response.text  # only same-origin script files


def _try(console: Console, username: str, password: str) -> httpx.Response:
    return console.client.post(
        "/login",
        data={"username": username, "password": password, "csrf": console.csrf("/login")},
        follow_redirects=False,
    )


def test_guessing_an_account_makes_it_wait_even_for_the_right_password(
    console: Console,
) -> None:
    for _ in range(FREE_FAILURES_PER_ACCOUNT):
        assert _try(console, "ana", "wrong password!").status_code == 401
    waiting = _try(console, "ana", PASSWORD)
    assert waiting.status_code == 429
    seconds = int(FIRST_DELAY.total_seconds())
    assert f"Too many failed logins. Try again in {seconds} seconds." in waiting.text
    assert waiting.headers["Retry-After"] == str(seconds)
    assert "cadencia_session" not in waiting.cookies
    assert _try(console, "mara", PASSWORD).status_code == 303  # other accounts do not wait
    console.client.cookies.clear()
    console.clock.now += FIRST_DELAY
    assert _try(console, "ana", PASSWORD).status_code == 303


def test_the_right_password_clears_the_accounts_failures(console: Console) -> None:
    for _ in range(FREE_FAILURES_PER_ACCOUNT - 1):
        assert _try(console, "ana", "wrong password!").status_code == 401
    assert _try(console, "ana", PASSWORD).status_code == 303
    console.client.cookies.clear()
    for _ in range(FREE_FAILURES_PER_ACCOUNT - 1):
        assert _try(console, "ana", "wrong password!").status_code == 401
    assert _try(console, "ana", PASSWORD).status_code == 303


def test_one_client_guessing_many_accounts_is_locked_out_of_all(console: Console) -> None:
    for n in range(MAX_FAILURES_PER_CLIENT):
        console.clock.now += dt.timedelta(seconds=30)
        assert _try(console, f"guess{n}", "wrong password!").status_code == 401
    refused = _try(console, "mara", PASSWORD)
    assert refused.status_code == 429 and "cadencia_session" not in refused.cookies
    # The client waits until its window, opened by its first failure, ends.
    assert refused.headers["Retry-After"] == str(
        int(
            (
                THROTTLE_WINDOW - dt.timedelta(seconds=30 * (MAX_FAILURES_PER_CLIENT - 1))
            ).total_seconds()
        )
    )
    console.clock.now += THROTTLE_WINDOW
    assert _try(console, "mara", PASSWORD).status_code == 303
