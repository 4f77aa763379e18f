"""``cadencia db roles``: PostgreSQL's owner and application roles (docs/deploy.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cadencia.cli._common import err_console, fail, print_json, settings_of

if TYPE_CHECKING:
    from campaigns.storage.roles import Roles

db_app = typer.Typer(help="Database administration (PostgreSQL).", no_args_is_help=True)


def _password(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        fail(f"{option} {path}: cannot read: {exc.strerror}", code=2)
    if not value:
        fail(f"{option} {path}: the file is empty", code=2)
    return value


def _shown(url: str) -> str:
    """``url`` without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _apply(url: str, names: Roles, **passwords: str | None) -> list[str]:
    """Run the roles' SQL on ``url`` in one transaction; exit 1 with the driver's reason."""
    from campaigns.storage.db import make_engine
    from campaigns.storage.roles import apply_roles

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return apply_roles(conn, names, **passwords)
    except Exception as exc:  # the driver's message names the missing privilege
        fail(f"cannot set up the roles on {_shown(url)}: {exc}")
    finally:
        engine.dispose()


@db_app.command("roles")
def roles(
    ctx: typer.Context,
    owner: Annotated[str, typer.Option(help="The role that owns the tables and migrates.")] = (
        "cadencia_owner"
    ),
    app: Annotated[
        str, typer.Option(help="The role every other process connects as.")
    ] = "cadencia_app",
    owner_password_file: Annotated[
        Path | None, typer.Option(help="File holding the owner's password (set if given).")
    ] = None,
    app_password_file: Annotated[
        Path | None, typer.Option(help="File holding the application's password (set if given).")
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the SQL (passwords hidden), run nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create or update the owner and application roles and their grants (idempotent).

    Run it as a PostgreSQL administrator (--db postgresql://postgres@host/cadencia)
    before the first `cadencia init`, and again after each release's `cadencia init`.
    The application role may not UPDATE, DELETE or TRUNCATE the contact ledger.
    """
    from sqlalchemy.engine import make_url

    from campaigns.storage.roles import Roles, redacted, role_statements

    try:
        names = Roles(owner=owner, app=app)
    except ValueError as exc:
        fail(str(exc), code=2)
    url = settings_of(ctx).database_url
    if print_only:
        database = make_url(url).database if url.startswith("postgresql") else None
        for statement in role_statements(names, database or "DATABASE"):
            typer.echo(statement + ";")
        return
    if not url.startswith("postgresql"):
        fail(f"roles are PostgreSQL's: {url} is not a PostgreSQL database", code=2)
    statements = _apply(
        url,
        names,
        owner_password=_password(owner_password_file, "--owner-password-file"),
        app_password=_password(app_password_file, "--app-password-file"),
    )
    if as_json:
        print_json({"owner": owner, "app": app, "statements": [redacted(s) for s in statements]})
    else:
        err_console.print(
            f"roles ready: {owner} owns the tables (run `cadencia init` as it), {app} may not "
            "UPDATE, DELETE or TRUNCATE contact_events (connect every other process as it)",
            highlight=False,
        )
