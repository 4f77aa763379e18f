"""The ``asterisk_sandbox`` fixture: a real Asterisk 22 for the whole session.

It starts a private instance of the sandbox (``campaigns.sandbox.asterisk``),
building the cached Debian root first if needed (minutes, once per machine),
and stops it at the end of the session. Each pytest process gets its own
instance name, so engineers and CI running at once do not share an Asterisk.
Without root, or when the root cannot be built, the tests that need it are
skipped naming the component (failed under CADENCIA_REQUIRE_ALL=1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from campaigns.sandbox import asterisk as sandbox
from tests.support.components import component_missing

COMPONENT = "Asterisk 22 sandbox"


@pytest.fixture(scope="session")
def asterisk_sandbox() -> Iterator[sandbox.SandboxState]:
    """A running sandbox Asterisk: ``.host``, ``.port``, ``.username``,
    ``.secret`` (AMI), ``.root`` (the Debian root) and ``.queue_log``."""
    missing = sandbox.prerequisites_missing()
    if missing:
        component_missing(COMPONENT, missing)
    name = f"pytest-{os.getpid()}"
    try:
        state = sandbox.start(name, timeout=90.0)
    except sandbox.SandboxError as exc:
        component_missing(COMPONENT, str(exc))
    try:
        yield state
    finally:
        sandbox.stop(name)
