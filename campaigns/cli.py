"""``cadencia``: the command line of campaign managers and compliance officers.

Every command that a machine may read has ``--json``. Progress goes to stderr
so stdout stays parseable.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from campaigns.config import ConfigError, Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

app = typer.Typer(
    name="cadencia",
    help=(
        "Cadencia — customer-centric collections dialer and campaign scheduler.\n\n"
        "A day: `cadencia init` once, `cadencia portfolio import FILE.csv` every morning, "
        "then the daily run. The database is an SQLite file (cadencia.db) unless --db or "
        "CADENCIA_DATABASE_URL points at PostgreSQL."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# soft_wrap: never break a "file:line: field: message" error across lines.
err_console = Console(stderr=True, soft_wrap=True)


@dataclass
class CliState:
    """What the root callback resolved, handed to every subcommand via the context."""

    settings: Settings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def ready_engine(ctx: typer.Context) -> Engine:
    """An engine on the configured database, which must be reachable and initialised."""
    from campaigns.db import make_engine, schema_revision

    url = settings_of(ctx).database_url
    engine = make_engine(url)
    try:
        revision = schema_revision(engine)
    except Exception as exc:  # the driver's own message says what is wrong
        engine.dispose()
        fail(f"cannot reach the database {url}: {exc}")
    if revision is None:
        engine.dispose()
        fail(f"the database {url} is not initialised: run `cadencia init` first")
    return engine


def settings_of(ctx: typer.Context) -> Settings:
    """The settings resolved by the root callback."""
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state.settings


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL (sqlite:///FILE or postgresql://…); overrides "
            "CADENCIA_DATABASE_URL.",
        ),
    ] = None,
) -> None:
    """Cadencia's command line."""
    from campaigns.observability import configure_logging

    configure_logging(os.environ)
    try:
        ctx.obj = CliState(settings=Settings.from_env(database_url=db))
    except ConfigError as exc:
        fail(str(exc), code=2)


@app.command()
def init(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create the database schema, or migrate it to the newest revision."""
    from campaigns.db import migrate

    url = settings_of(ctx).database_url
    try:
        revision = migrate(url)
    except Exception as exc:  # the driver's error is the useful message
        fail(f"cannot initialise {url}: {exc}")
    if as_json:
        print_json({"database": url, "revision": revision})
    else:
        err_console.print(f"database ready at revision {revision}: {url}")


def _register_subcommands() -> None:
    from campaigns.cli_compliance import audit_app, compliance_app, ledger_app
    from campaigns.cli_model import model_app
    from campaigns.cli_portfolio import portfolio_app
    from campaigns.cli_run import report, run_app
    from campaigns.sandbox.cli import sandbox_app

    app.add_typer(portfolio_app, name="portfolio")
    app.add_typer(compliance_app, name="compliance")
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(audit_app, name="audit")

    from campaigns.cli_messages import messages_app, sandbox_providers, webhooks_command

    app.add_typer(messages_app, name="messages")
    app.command("webhooks")(webhooks_command)
    app.add_typer(run_app, name="run")
    app.command("report")(report)
    app.add_typer(model_app, name="model")
    sandbox_app.command("providers")(sandbox_providers)
    app.add_typer(sandbox_app, name="sandbox")

    from campaigns.cli_ops import metrics, up, worker
    from campaigns.web.cli import users_app, web_command

    app.command("metrics")(metrics)
    app.command("worker")(worker)
    app.command("up")(up)
    app.command("web")(web_command)
    app.add_typer(users_app, name="users")


_register_subcommands()
