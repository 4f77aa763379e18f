"""``cadencia users add`` and the ``cadencia web`` entry's refusals, on the real root callback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cadencia.cli.app import main as root_callback
from cadencia.cli.web import users_app, web_command
from cadencia.console.security import login
from campaigns.storage.db import make_engine, migrate


def cli() -> typer.Typer:
    """The commands as the lead mounts them: ``users`` and ``web`` under the real root."""
    app = typer.Typer()
    app.callback()(root_callback)
    app.add_typer(users_app, name="users")
    app.command("web")(web_command)
    return app


def test_users_add_reads_the_password_from_a_secret_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    migrate(url)
    secret = tmp_path / "password"
    secret.write_text("a long enough secret\n", encoding="utf-8")
    runner = CliRunner()
    env = {"CADENCIA_WEB_PASSWORD_FILE": str(secret)}
    args = ["--db", url, "users", "add", "ana", "--role", "agent"]
    result = runner.invoke(
        cli(), [*args, "--agent-id", "agent1", "--interface", "PJSIP/a1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "created agent ana" in result.output
    engine = make_engine(url)
    try:
        assert login(engine, "ana", "a long enough secret", now=dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    again = runner.invoke(cli(), [*args, "--agent-id", "agent2", "--interface", "x"], env=env)
    assert again.exit_code == 1 and "already taken" in again.output
    no_member = runner.invoke(
        cli(), ["--db", url, "users", "add", "eva", "--role", "agent"], env=env
    )
    assert no_member.exit_code == 1 and "queue member" in no_member.output
    missing = runner.invoke(
        cli(),
        ["--db", url, "users", "add", "eva", "--role", "manager"],
        env={"CADENCIA_WEB_PASSWORD_FILE": str(tmp_path / "nope")},
    )
    assert missing.exit_code == 2 and "CADENCIA_WEB_PASSWORD_FILE" in missing.output


def test_web_refuses_a_database_without_its_tables_and_an_ami_without_secret(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path}/empty.db"
    result = runner.invoke(cli(), ["--db", url, "web"], env={"CADENCIA_AMI_HOST": ""})
    assert result.exit_code == 2 and "cadencia init" in result.output
    env = {"CADENCIA_WEB_PASSWORD": "a long enough secret"}
    result = runner.invoke(cli(), ["--db", url, "users", "add", "x1", "--role", "admin"], env=env)
    assert result.exit_code == 2 and "cadencia init" in result.output
    result = runner.invoke(cli(), ["--db", url, "web"], env={"CADENCIA_AMI_HOST": "127.0.0.1"})
    assert result.exit_code == 2 and "CADENCIA_CONSOLE_AMI_SECRET" in result.output


def test_web_subscribes_where_the_dial_jobs_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cadencia web`` takes its agent-event namespace from CADENCIA_AGENT_NAMESPACE,
    the setting the dial-session jobs publish their agents' calls under."""
    import uvicorn

    url = f"sqlite:///{tmp_path}/console.db"
    migrate(url)
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: served.append(self.config.app))
    env = {"CADENCIA_AMI_HOST": "", "CADENCIA_AGENT_NAMESPACE": "floor-b"}
    result = CliRunner().invoke(cli(), ["--db", url, "web"], env=env)
    assert result.exit_code == 0, result.output
    (app,) = served
    assert app.state.ctx.namespace == "floor-b"
