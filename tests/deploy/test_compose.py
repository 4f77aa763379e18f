"""docker/compose.yml, checked without a Docker engine: structure, secrets, real commands."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from campaigns.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"
LONG_RUNNING = {"postgres", "redis", "asterisk", "worker", "webhooks", "web"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= LONG_RUNNING
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"], f"{name} has no healthcheck"


def test_secrets_are_files_and_every_file_variable_points_at_a_mounted_secret(
    compose: dict[str, Any],
) -> None:
    declared = compose["secrets"]
    assert all(set(spec) == {"file"} for spec in declared.values())
    for name, service in compose["services"].items():
        mounted = set(service.get("secrets", []))
        assert mounted <= set(declared), name
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key)
                assert value.removeprefix("/run/secrets/") in mounted, (name, key)
            else:
                assert "PASSWORD" not in key and "TOKEN" not in key, (name, key)


def test_app_services_run_commands_our_cli_has(compose: dict[str, Any]) -> None:
    runner = CliRunner()
    for name, service in compose["services"].items():
        if service.get("image") != "cadencia:latest":
            continue
        command = service["command"]
        words = command if isinstance(command, list) else shlex.split(command)
        # The subcommand path, then --help: typer validates the path exists.
        path = [w for w in words if not w.startswith("-")][:1]
        if words[:2] == ["worker", "--workers"] or path == ["init"]:
            path = words[:1]
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"{name}: cadencia {' '.join(path)}: {result.output}"


def test_workers_listen_on_the_queues_jobs_are_sent_to(compose: dict[str, Any]) -> None:
    from campaigns.cli_ops import DIAL_QUEUE, MESSAGE_QUEUE
    from campaigns.dialing.job import DEFAULT_QUEUE as DIAL_JOBS
    from campaigns.jobs.settings import DEFAULT_QUEUE as MESSAGE_JOBS

    assert (DIAL_QUEUE, MESSAGE_QUEUE) == (DIAL_JOBS, MESSAGE_JOBS)
    command = compose["services"]["worker"]["command"]
    assert command[command.index("--queues") + 1].split(",") == [DIAL_JOBS, MESSAGE_JOBS]
