"""``cadencia payments …`` and ``cadencia promises …``: money in, promises kept or broken."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cadencia.cli._common import err_console, fail, print_json, ready_engine, settings_of

payments_app = typer.Typer(
    help="Payments from the bank: import a file (all or nothing, once per reference).",
    no_args_is_help=True,
)
promises_app = typer.Typer(
    help="Promises to pay and whether they were kept: list, settle.", no_args_is_help=True
)
MAX_ERRORS_SHOWN = 100
STATUSES = ("pending", "kept", "partly_kept", "broken", "cancelled")


def _refuse(errors: list[str], as_json: bool, what: str) -> None:
    if as_json:
        print_json({"ok": False, "error_count": len(errors), "errors": errors})
    for error in errors[:MAX_ERRORS_SHOWN]:
        err_console.print(error, highlight=False, markup=False)
    if len(errors) > MAX_ERRORS_SHOWN:
        err_console.print(f"… and {len(errors) - MAX_ERRORS_SHOWN} more errors (use --json)")
    fail(f"{what}: {len(errors)} errors; nothing was recorded")


@payments_app.command("import")
def import_payments(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV: account_id,amount,currency,paid_at,reference")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Record the payments in FILE and settle the promises they keep: every row or none.

    A reference already recorded counts once; any error is listed as
    ``file:line: field: message`` and nothing is recorded.
    """
    from campaigns.payments.file import parse_payments_file
    from campaigns.payments.record import PaymentsRejected, record_payments

    parsed = parse_payments_file(file)
    if parsed.errors:
        _refuse(parsed.errors, as_json, str(file))
    engine = ready_engine(ctx)
    try:
        summary = record_payments(
            engine,
            parsed.payments,
            source="file",
            now=settings_of(ctx).clock().now(),
            name=str(file),
        )
    except PaymentsRejected as exc:
        _refuse([str(e) for e in exc.errors], as_json, str(file))
    finally:
        engine.dispose()
    if as_json:
        print_json({"ok": True, "file": str(file), **summary.as_dict()})
        return
    money = ", ".join(f"{amount:,} {currency}" for currency, amount in summary.amounts.items())
    promises = summary.promises
    err_console.print(
        f"{summary.recorded} payments recorded ({money or 'nothing new'}), "
        f"{summary.duplicates} already known; promises: {promises.kept} kept, "
        f"{promises.partly_kept} partly kept, {promises.broken} broken"
    )


@promises_app.command("settle")
def settle(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Settle every pending promise whose grace period has ended, or that payments covered."""
    from campaigns.payments.promises import settle_promises

    engine = ready_engine(ctx)
    try:
        with engine.begin() as conn:
            summary = settle_promises(conn, now=settings_of(ctx).clock().now())
    finally:
        engine.dispose()
    if as_json:
        print_json(summary.as_dict())
    else:
        err_console.print(
            f"{summary.kept} kept, {summary.partly_kept} partly kept, {summary.broken} broken, "
            f"{summary.pending} still pending"
        )


@promises_app.command("list")
def list_promises(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option(help="Only this customer's promises.")] = None,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATUSES)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
) -> None:
    """Promises with their status and what was paid toward each."""
    from campaigns.payments.listing import promise_rows

    if status is not None and status not in STATUSES:
        fail(f"--status {status!r}: choose one of {', '.join(STATUSES)}", code=2)
    engine = ready_engine(ctx)
    try:
        rows = promise_rows(engine, customer=customer, status=status)
    finally:
        engine.dispose()
    if as_json:
        print_json(rows)
        return
    _print_table(rows)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("customer", "account", "promised", "paid", "due", "status", "taken by")
    for r in rows:
        table.add_row(
            r["customer_id"],
            r["account_id"] or "all",
            f"{r['amount']} {r['currency']}",
            r["paid_amount"],
            r["due_on"],
            r["status"],
            r["source"],
        )
    Console().print(table)
