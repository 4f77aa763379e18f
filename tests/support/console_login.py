"""Log a console user in over HTTP as a browser would (the sandbox call tests' clients)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def log_in(client: TestClient, username: str, home: str, password: str = PASSWORD) -> str:
    """Log ``username`` in on ``client`` (cookies kept); the CSRF token of the page ``home``."""
    token = _CSRF.search(client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = _CSRF.search(client.get(home).text)
    return page.group(1) if page else ""  # a page without a form: no token
