"""docker/compose.yml, checked without a Docker engine: structure, secrets, real commands."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cadencia.cli import app

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
    from cadencia.cli.ops import DIAL_QUEUE, MESSAGE_QUEUE
    from campaigns.dialing.job import DEFAULT_QUEUE as DIAL_JOBS
    from campaigns.settings import DEFAULT_MESSAGE_QUEUE as MESSAGE_JOBS

    assert (DIAL_QUEUE, MESSAGE_QUEUE) == (DIAL_JOBS, MESSAGE_JOBS)
    command = compose["services"]["worker"]["command"]
    assert command[command.index("--queues") + 1].split(",") == [DIAL_JOBS, MESSAGE_JOBS]


def test_app_containers_environment_configures_workers_web_and_dialer(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Every variable compose sets is one the application reads, and it is enough:
    a worker's message and dial settings and the console's PBX settings all load."""
    from campaigns.settings import Settings

    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for package in ("cadencia", "campaigns", "channels")
        for p in (ROOT / package).rglob("*.py")
    )
    contents = {"database_url": "postgresql://cadencia@postgres/cadencia"}
    for name in ("worker", "web", "webhooks"):
        env: dict[str, str] = {}
        for key, value in (compose["services"][name].get("environment") or {}).items():
            base = key.removesuffix("_FILE")
            assert f'"{base}"' in sources, f"{name}: nothing reads {key}"
            if key.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                path = tmp_path / secret
                path.write_text(contents.get(secret, f"{secret}-value") + "\n", encoding="utf-8")
                value = str(path)
            env[key] = str(value)
        settings = Settings.load(env)
        assert settings.database_url.startswith("postgresql+psycopg://cadencia@postgres")
        messaging = settings.messaging()
        assert messaging.channels.sendgrid is not None and messaging.channels.twilio is not None
        dialer = settings.dialer()
        assert (dialer.ami_host, dialer.ami_port) == ("host.docker.internal", 5038)
        assert dialer.ami_secret == "ami_secret-value"
        pbx = settings.ami()
        assert pbx is not None and pbx.secret == "ami_secret-value"
