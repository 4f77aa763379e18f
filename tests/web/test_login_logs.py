"""The console's login lines name accounts by a hash, never by what was typed.

A username box often receives a password typed one field too early, and an
account's name is often a person's: neither belongs in a log store.
"""

from __future__ import annotations

import logging

import pytest

from cadencia.console.security import FREE_FAILURES_PER_ACCOUNT
from campaigns.observability import user_ref
from tests.web.conftest import PASSWORD, Console

TYPED_BY_MISTAKE = "Hunter2-MySecret"


def attempt(console: Console, username: str, password: str) -> int:
    """A login through the form, as a browser posts it; returns the status code."""
    return console.client.post(
        "/login",
        data={"username": username, "password": password, "csrf": console.csrf("/login")},
        follow_redirects=False,
    ).status_code


def test_login_lines_carry_a_hash_of_the_username(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cadencia.console"):
        assert attempt(console, TYPED_BY_MISTAKE, "whatever") == 401  # a password, typed early
        for _ in range(FREE_FAILURES_PER_ACCOUNT):
            assert attempt(console, "ana", "wrong password!") == 401
        assert attempt(console, "ana", PASSWORD) == 429  # throttled: refused before any check
        console.client.cookies.clear()
        assert attempt(console, "cora", PASSWORD) == 303
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("cadencia.console")]
    text = "\n".join(lines)
    assert f"failed login for {user_ref(TYPED_BY_MISTAKE)} from" in text
    assert f"failed login for {user_ref('ana')} from" in text
    assert f"login refused for {user_ref('ana')} from" in text
    assert f"login {user_ref('cora')} (compliance)" in text
    for name in (TYPED_BY_MISTAKE, "'ana'", " ana ", "cora"):
        assert name not in text, name
    assert user_ref("ana") == user_ref("ana") != user_ref("ana ")  # stable, one per name
