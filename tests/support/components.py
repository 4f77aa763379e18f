"""The rule every fixture follows when a real component cannot be had.

A missing component skips the test with a reason that names it, except under
``CADENCIA_REQUIRE_ALL=1`` (set by ``.ci/run``), where the skip becomes a failure:
CI must never go green by skipping the real thing.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def require_all() -> bool:
    """True when every component is mandatory (CI)."""
    return os.environ.get("CADENCIA_REQUIRE_ALL", "") not in ("", "0", "false", "no")


def component_missing(component: str, why: str) -> NoReturn:
    """Skip (or, under CADENCIA_REQUIRE_ALL=1, fail) naming the component."""
    message = f"{component} unavailable: {why}"
    if require_all():
        pytest.fail(f"{message} (CADENCIA_REQUIRE_ALL=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
