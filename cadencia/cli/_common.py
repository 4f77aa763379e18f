"""What every command group shares: the resolved settings, errors, JSON output, an engine.

Every command that a machine may read has ``--json``. Progress goes to stderr
so stdout stays parseable.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from campaigns.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

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


def settings_of(ctx: typer.Context) -> Settings:
    """The settings resolved by the root callback."""
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state.settings


def ready_engine(ctx: typer.Context) -> Engine:
    """An engine on the configured database, which must be reachable and initialised."""
    from campaigns.storage.db import make_engine, schema_revision

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


def require_current_schema(engine: Engine) -> None:
    """Refuse (exit 2, saying what to do) a database behind this release's newest migration.

    The console and the portal read tables of many migrations: a database
    left behind would fail at the first login or link instead of at start.
    """
    from campaigns.storage.db import head_revision, schema_revision

    revision, head = schema_revision(engine), head_revision()
    if revision != head:
        engine.dispose()
        fail(
            f"the database is at schema {revision or 'none'}, this release needs {head}: "
            "run `cadencia init` first",
            code=2,
        )
