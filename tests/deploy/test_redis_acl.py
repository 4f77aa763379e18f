"""docker/redis: a real redis-server started by start.sh with users.acl, as compose starts it.

Each service's user, logged in with the URL its settings build from compose's
environment and its own password file, can do what RQ and the agent events
need; the default user, a wrong password and anything outside the rules are
refused.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import SimpleWorker

from campaigns.queues import rq_queue, rq_worker
from campaigns.settings import Settings
from tests.support.components import component_missing, free_port

ROOT = Path(__file__).resolve().parents[2]
USERS = ("worker", "desk", "web")


@dataclass
class AclRedis:
    """A throwaway redis-server with the deployment's ACL; the users' password files."""

    port: int
    secrets: Path


def bare(port: int, **login: str) -> redis.Redis:
    """A client that does not retry a refused login (redis-py retries connection errors)."""
    return redis.Redis(port=port, retry=Retry(NoBackoff(), 0), **login)  # type: ignore[arg-type]


def _wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    client = bare(port)
    deadline = time.monotonic() + 10
    try:
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                client.ping()
                return
            except redis.AuthenticationError:
                return  # answering, and refusing a connection that did not log in
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture()
def acl_redis(tmp_path: Path) -> Iterator[AclRedis]:
    if shutil.which("redis-server") is None:
        component_missing("redis-server binary", "not on PATH")
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    for user in USERS:  # one line each, as an operator writes them (with odd characters)
        password = secrets.token_urlsafe(18) + "@:/%"
        (secret_dir / f"redis_{user}_password").write_text(password + "\n", encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "CADENCIA_REDIS_ACL_TEMPLATE": str(ROOT / "docker" / "redis" / "users.acl"),
        "CADENCIA_REDIS_SECRETS": str(secret_dir),
        "CADENCIA_REDIS_ACL": str(tmp_path / "users.acl"),
    }
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text(encoding="utf-8"))
    options = compose["services"]["redis"]["command"]  # --appendonly yes
    process = subprocess.Popen(
        ["sh", str(ROOT / "docker" / "redis" / "start.sh"), *options, "--port", str(port),
         "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_until_up(port, process)
        yield AclRedis(port, secret_dir)
    finally:
        process.kill()
        process.wait(timeout=10)


def service_redis(server: AclRedis, user: str) -> redis.Redis:
    """The client a service opens: its compose environment, loaded by the settings."""
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text(encoding="utf-8"))
    env = compose["services"][user]["environment"]
    url = env["CADENCIA_REDIS_URL"].replace("@redis:6379", f"@127.0.0.1:{server.port}")
    password_file = env["CADENCIA_REDIS_PASSWORD_FILE"].replace("/run/secrets", str(server.secrets))
    settings = Settings.load(
        {"CADENCIA_REDIS_URL": url, "CADENCIA_REDIS_PASSWORD_FILE": password_file}
    )
    return redis.Redis.from_url(settings.redis_url)


def test_the_acl_file_holds_no_password_in_clear(acl_redis: AclRedis, tmp_path: Path) -> None:
    written = (tmp_path / "users.acl").read_text(encoding="utf-8")
    assert "{password}" not in written and "#" in written
    for user in USERS:
        password = (acl_redis.secrets / f"redis_{user}_password").read_text().strip()
        assert password not in written


def test_the_default_user_and_wrong_passwords_are_refused(acl_redis: AclRedis) -> None:
    anonymous = bare(acl_redis.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.set("rq:x", "1")
    with pytest.raises(redis.AuthenticationError):
        bare(acl_redis.port, username="default", password="").ping()
    desk_password = (acl_redis.secrets / "redis_desk_password").read_text().strip()
    with pytest.raises(redis.AuthenticationError):  # one service's password is not another's
        bare(acl_redis.port, username="worker", password=desk_password).ping()
    # compose's health check: the server answers, if only to say log in first
    check = compose_redis_healthcheck()
    result = subprocess.run(
        ["sh", "-c", check.replace("redis-cli", f"redis-cli -p {acl_redis.port}", 1)],
        capture_output=True,
        timeout=10,
    )
    assert result.returncode == 0, result


def compose_redis_healthcheck() -> str:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text(encoding="utf-8"))
    test = compose["services"]["redis"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    return str(test[1])


def echo(value: str) -> str:
    """A job for the worker below."""
    return value


@pytest.mark.parametrize("user", USERS)
def test_each_service_user_can_run_rq_and_the_agent_events_and_nothing_else(
    acl_redis: AclRedis, user: str
) -> None:
    client = service_redis(acl_redis, user)
    assert client.acl_whoami() == user
    # RQ: enqueue (now and later), a worker with its scheduler runs the jobs
    queue = rq_queue("ledger", client)
    job = queue.enqueue(f"{__name__}.echo", "now")
    queue.enqueue_in(dt.timedelta(seconds=0), f"{__name__}.echo", "later")
    worker = rq_worker([queue], client, SimpleWorker)
    assert worker.work(burst=True, with_scheduler=True)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "now"
    # the agent events: state keys, publish and subscribe under cadencia:
    subscriber = client.pubsub()
    subscriber.subscribe("cadencia:agent-events")
    assert client.publish("cadencia:agent-events", "{}") == 1
    client.hset("cadencia:agent:agent1", mapping={"state": "ready"})
    # the dial hoppers' and leases' Lua scripts, on their own keys
    script = "return redis.call('SET', KEYS[1], ARGV[1])"
    assert client.eval(script, 1, "cadencia:dial-lease:run1:s0", "me") == b"OK"
    subscriber.close()
    # and nothing else: other keys, other channels, administration, wiping
    for refused in (
        lambda: client.set("other:key", "1"),
        lambda: client.publish("other-channel", "x"),
        lambda: client.keys("*"),
        lambda: client.flushall(),
        lambda: client.flushdb(),
        lambda: client.config_get("*"),
        lambda: client.acl_list(),
        lambda: client.execute_command("ACL", "SETUSER", "intruder", "on", "+@all", "~*"),
        lambda: client.client_list(),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            refused()
    client.close()
