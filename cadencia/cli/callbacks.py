"""``cadencia callbacks …``: callbacks set at the desktop and what became of each."""

from __future__ import annotations

from typing import Annotated

import typer

from cadencia.cli._common import fail, print_json, ready_engine

callbacks_app = typer.Typer(
    help="Callbacks agents set at the desktop: dialed, done, refused (with the rules), missed.",
    no_args_is_help=True,
)


@callbacks_app.command("list")
def list_callbacks(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Only the callbacks this agent set.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="scheduled, queued, dialing, done, refused or missed."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
) -> None:
    """Callbacks by time, with their status and, when refused or missed, the reason."""
    from campaigns.dialing.callbacks import STATUSES
    from campaigns.dialing.callbacks import list_callbacks as rows_of

    if status is not None and status not in STATUSES:
        fail(f"--status {status!r}: choose one of {', '.join(STATUSES)}", code=2)
    engine = ready_engine(ctx)
    try:
        rows = rows_of(engine, agent=agent, status=status)
    finally:
        engine.dispose()
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "customer", "agent", "campaign", "local time", "status", "reason")
    for r in rows:
        table.add_row(
            str(r.id),
            r.customer_id,
            r.agent,
            r.campaign or "",
            r.local_at,
            r.status,
            r.reason or "",
        )
    Console().print(table)
