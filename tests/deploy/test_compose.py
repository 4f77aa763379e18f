"""docker/compose.yml, checked without a Docker engine: structure, secrets, real commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cadencia.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"
LONG_RUNNING = {"postgres", "redis", "asterisk", "worker", "webhooks", "web", "portal"}


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
    from campaigns.ledger.verification import QUEUE as LEDGER_CHECKS
    from campaigns.settings import DEFAULT_MESSAGE_QUEUE as MESSAGE_JOBS

    assert (DIAL_QUEUE, MESSAGE_QUEUE) == (DIAL_JOBS, MESSAGE_JOBS)
    command = compose["services"]["worker"]["command"]
    queues = command[command.index("--queues") + 1].split(",")
    assert queues == [DIAL_JOBS, MESSAGE_JOBS, LEDGER_CHECKS]


def test_the_ledger_is_verified_on_a_schedule(compose: dict[str, Any]) -> None:
    """A service records a check every hour for the console; it needs the database only."""
    service = compose["services"]["ledger-verify"]
    assert service["command"][:2] == ["ledger", "verify"]
    every = service["command"][service["command"].index("--every") + 1]
    assert int(every) <= 24 * 3600
    assert service["secrets"] == ["database_url"]


WEBHOOK_URL = re.compile(r"\$\{CADENCIA_WEBHOOK_BASE_URL:\?[^}]*\}")


def _settings_of(compose: dict[str, Any], name: str, tmp_path: Path, sources: str) -> Any:
    """The settings service ``name`` loads from compose's environment and mounted secrets."""
    from campaigns.settings import Settings

    contents = {"database_url": "postgresql://cadencia@postgres/cadencia"}
    env: dict[str, str] = {}
    for key, value in (compose["services"][name].get("environment") or {}).items():
        base = key.removesuffix("_FILE")
        assert f'"{base}"' in sources, f"{name}: nothing reads {key}"
        # compose refuses to start without it; the operator gives the public URL
        value = WEBHOOK_URL.sub("https://hooks.example.com", str(value))
        if key.endswith("_FILE"):
            secret = value.removeprefix("/run/secrets/")
            path = tmp_path / f"{name}-{secret}"
            path.write_text(contents.get(secret, f"{secret}-value") + "\n", encoding="utf-8")
            value = str(path)
        env[key] = str(value)
    return Settings.load(env)


def test_each_app_service_loads_what_it_needs_with_only_its_own_secrets(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Every variable compose sets is one the application reads; each service's
    settings load, and a service without a secret cannot use what it guards."""
    from campaigns.settings import ConfigError

    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for package in ("cadencia", "campaigns", "channels")
        for p in (ROOT / package).rglob("*.py")
    )
    services = compose["services"]
    worker = _settings_of(compose, "worker", tmp_path, sources)
    assert worker.database_url.startswith("postgresql+psycopg://cadencia@postgres")
    messaging = worker.messaging()
    assert messaging.channels.sendgrid is not None and messaging.channels.twilio is not None
    dialer = worker.dialer()
    assert (dialer.ami_host, dialer.ami_port) == ("host.docker.internal", 5038)
    assert (dialer.ami_username, dialer.ami_secret) == ("cadencia", "ami_secret-value")
    desk = _settings_of(compose, "desk", tmp_path, sources).desk()
    assert desk.dialer.ami_secret == "ami_secret-value" and desk.queue == "cadencia-inbound"
    hooks = _settings_of(compose, "webhooks", tmp_path, sources)
    sendgrid = hooks.messaging().channels.sendgrid
    assert (
        sendgrid is not None and sendgrid.webhook_public_key == "sendgrid_webhook_public_key-value"
    )
    assert hooks.webhook_base_url == "https://hooks.example.com" and hooks.ami() is None
    web = _settings_of(compose, "web", tmp_path, sources)
    console = web.console_ami()
    assert console is not None
    assert (console.username, console.secret) == ("cadencia-console", "console_ami_secret-value")
    with pytest.raises(ConfigError, match="CADENCIA_AMI_SECRET"):
        web.dialer()  # the console holds no dialer secret
    assert _settings_of(compose, "portal", tmp_path, sources).portal_secret == "portal_secret-value"
    # Least privilege: the console and the portal mount no provider or dialer secret.
    assert set(services["web"]["secrets"]) == {
        "database_url",
        "console_ami_secret",
        "web_admin_password",
        "redis_web_password",
    }
    # The portal's only provider secret is Stripe's API key (the customer pays there).
    assert set(services["portal"]["secrets"]) == {"database_url", "portal_secret", "stripe_api_key"}
    assert "ami_secret" not in services["webhooks"]["secrets"]


REDIS_USERS = {"worker", "desk", "web"}  # the services that use Redis


def test_each_service_has_its_own_redis_user_and_only_its_own_password(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The Redis URL names the service's own ACL user; its password comes from a secret
    only that service (and the Redis server) mounts; services without Redis get none."""
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for package in ("cadencia", "campaigns", "channels")
        for p in (ROOT / package).rglob("*.py")
    )
    services = compose["services"]
    declared = {name for name in compose["secrets"] if name.startswith("redis_")}
    assert declared == {f"redis_{user}_password" for user in REDIS_USERS}
    assert set(services["redis"]["secrets"]) == declared
    acl = (ROOT / "docker" / "redis" / "users.acl").read_text(encoding="utf-8")
    acl_users = {line.split()[1] for line in acl.splitlines() if line.startswith("user ")}
    assert acl_users == REDIS_USERS | {"default"}
    assert "user default off " in acl
    for name, service in services.items():
        if name == "redis":
            continue
        env = service.get("environment") or {}
        mounted = {s for s in service.get("secrets", []) if s.startswith("redis_")}
        if name not in REDIS_USERS:
            assert mounted == set() and "CADENCIA_REDIS_URL" not in env, name
            continue
        assert mounted == {f"redis_{name}_password"}, name
        assert env["CADENCIA_REDIS_URL"] == f"redis://{name}@redis:6379/0"
        assert env["CADENCIA_REDIS_PASSWORD_FILE"] == f"/run/secrets/redis_{name}_password"
        settings = _settings_of(compose, name, tmp_path, sources)
        # the password read from the file, once, into the URL every Redis client opens
        assert settings.redis_url == f"redis://{name}:redis_{name}_password-value@redis:6379/0"
