"""``cadencia sandbox ...``: start, inspect and stop the local Asterisk 22 sandbox."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console

from sandbox import asterisk

sandbox_app = typer.Typer(
    help="Real components on this machine for tests and demos (needs root).",
    no_args_is_help=True,
)
asterisk_app = typer.Typer(
    help=(
        "A real Asterisk 22 from Debian's packages in a cached Debian sid root "
        "($CADENCIA_SANDBOX_DIR, default /var/cache/cadencia), with the production "
        "configuration from docker/asterisk/ plus its test overlay, AMI on a free "
        "127.0.0.1 port."
    ),
    no_args_is_help=True,
)
sandbox_app.add_typer(asterisk_app, name="asterisk")

_err = Console(stderr=True)
NAME_HELP = "Instance name; several instances can run side by side from one root."


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@asterisk_app.command("start")
def start(
    name: str = typer.Option("default", "--name", help=NAME_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the state as JSON."),
) -> None:
    """Build the root if needed (a few minutes, once), start Asterisk, wait for AMI."""
    log = (lambda message: None) if json_output else (lambda m: _err.print(m, markup=False))
    try:
        with _err.status("Starting the Asterisk sandbox (the first run builds the root)..."):
            state = asterisk.start(name, log=log)
    except asterisk.SandboxError as exc:
        raise _fail(str(exc)) from exc
    if json_output:
        typer.echo(json.dumps(asdict(state)))
    else:
        typer.echo(
            f"Asterisk sandbox {state.name!r} running: pid {state.pid}, "
            f"AMI {state.host}:{state.port} user {state.username}\n"
            f"{state.asterisk_version}\nlogs: {state.log_dir}"
        )


@asterisk_app.command("status")
def status(
    name: str = typer.Option("default", "--name", help=NAME_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the state as JSON."),
) -> None:
    """Is the instance running, and where does its AMI listen? Exit 3 when stopped."""
    state = asterisk.status(name)
    if json_output:
        payload: dict[str, object] = {"running": state is not None, "name": name}
        payload["root_ready"] = asterisk.root_ready()
        if state is not None:
            payload.update(asdict(state))
        typer.echo(json.dumps(payload))
    elif state is None:
        typer.echo(f"Asterisk sandbox {name!r} is not running")
    else:
        typer.echo(
            f"Asterisk sandbox {name!r} running: pid {state.pid}, "
            f"AMI {state.host}:{state.port} user {state.username}"
        )
    if state is None:
        raise typer.Exit(code=3)


@asterisk_app.command("stop")
def stop(
    name: str = typer.Option("default", "--name", help=NAME_HELP),
    clean: bool = typer.Option(
        False, "--clean", help="Also delete the instance's files (logs, queue_log)."
    ),
) -> None:
    """Stop the instance by its pid (its /proc mount goes with it)."""
    try:
        stopped = asterisk.stop(name, keep_files=not clean)
    except asterisk.SandboxError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(
        f"Asterisk sandbox {name!r} stopped"
        if stopped
        else f"Asterisk sandbox {name!r} was not running"
    )
