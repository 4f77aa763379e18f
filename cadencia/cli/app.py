"""``cadencia``: the command line of campaign managers and compliance officers.

This module only assembles: the root callback (settings and logging, once per
process), ``cadencia init``, and the command groups, each in its own module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cadencia.cli import (
    callbacks,
    compliance,
    db,
    links,
    messages,
    model,
    ops,
    payments,
    portal,
    portfolio,
    recordings,
    run,
    sandbox,
    softphone,
    web,
)
from cadencia.cli._common import CliState, err_console, fail, print_json, settings_of
from campaigns.settings import ConfigError, Settings

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

    try:
        settings = Settings.load(database_url=db)
    except ConfigError as exc:
        fail(str(exc), code=2)
    configure_logging(settings.log_format)
    ctx.obj = CliState(settings=settings)


@app.command()
def init(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create the database schema, or migrate it to the newest revision."""
    from campaigns.storage.db import migrate

    url = settings_of(ctx).database_url
    try:
        revision = migrate(url)
    except Exception as exc:  # the driver's error is the useful message
        fail(f"cannot initialise {url}: {exc}")
    if as_json:
        print_json({"database": url, "revision": revision})
    else:
        err_console.print(f"database ready at revision {revision}: {url}")


app.add_typer(portfolio.portfolio_app, name="portfolio")
app.add_typer(payments.payments_app, name="payments")
app.add_typer(payments.promises_app, name="promises")
app.add_typer(callbacks.callbacks_app, name="callbacks")
app.add_typer(compliance.compliance_app, name="compliance")
app.add_typer(compliance.ledger_app, name="ledger")
app.add_typer(compliance.audit_app, name="audit")
app.add_typer(messages.messages_app, name="messages")
app.command("webhooks")(messages.webhooks_command)
app.add_typer(run.run_app, name="run")
app.command("report")(run.report)
app.add_typer(model.model_app, name="model")
sandbox.sandbox_app.command("providers")(messages.sandbox_providers)
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.command("metrics")(ops.metrics)
app.command("worker")(ops.worker)
app.command("up")(ops.up)
app.command("desk")(ops.desk)
app.command("web")(web.web_command)
app.command("portal")(portal.portal_command)
app.add_typer(links.links_app, name="links")
app.add_typer(web.users_app, name="users")
app.add_typer(db.db_app, name="db")
app.add_typer(recordings.recordings_app, name="recordings")
app.add_typer(softphone.softphone_app, name="softphone")
