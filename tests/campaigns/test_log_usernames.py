"""Console accounts in log lines: a stable hash, never the name."""

from __future__ import annotations

import json
import logging

import pytest

from campaigns.observability import configure_logging, user_ref


def test_user_ref_is_stable_short_and_not_the_name() -> None:
    ref = user_ref("maria.nunez")
    assert ref == user_ref("maria.nunez") and ref.startswith("user#") and len(ref) == 17
    assert "maria" not in ref and ref != user_ref("maria.nunez ")


def test_a_username_given_as_an_extra_field_is_logged_as_its_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the handler every entry point installs, as the log shipper reads it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("json")
        logging.getLogger("cadencia.console.test").info(
            "password set", extra={"username": "maria.nunez", "user": "agent7"}
        )
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert line["username"] == user_ref("maria.nunez") and line["user"] == user_ref("agent7")
    assert "maria" not in json.dumps(line) and "agent7" not in json.dumps(line)
