"""``cadencia portfolio …``: import, generate and inspect the daily portfolio."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cadencia.cli._common import err_console, fail, print_json, ready_engine

if TYPE_CHECKING:
    from campaigns.portfolio.load import ImportSummary
    from campaigns.portfolio.rows import RowError

portfolio_app = typer.Typer(
    help="Load the creditor's daily portfolio file, generate synthetic ones, show a customer.",
    no_args_is_help=True,
)
MAX_ERRORS_SHOWN = 100


@portfolio_app.command("import")
def import_portfolio(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Portfolio CSV: one row per account.")],
    delimiter: Annotated[
        str | None, typer.Option(help="Field delimiter; sniffed from the file when omitted.")
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="FILE is the whole portfolio: close open accounts and retire phones and "
            "emails absent from it.",
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes validating a large file (default: all cores).")
    ] = os.cpu_count() or 1,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Validate FILE and merge it into the database: all rows or none.

    Any error (a bad phone, an empty balance, a duplicate account…) is listed as
    ``file:line: field: message``, the exit code is 1 and the database is untouched.
    """
    from campaigns.portfolio.stream import import_file

    if delimiter is not None and len(delimiter) != 1:
        fail(f"--delimiter must be one character, got {delimiter!r}", code=2)
    engine = ready_engine(ctx)
    try:
        # Validated chunk by chunk straight into staging tables: memory stays
        # bounded by a few chunks, whatever the file's size (docs/portfolio-format.md).
        with err_console.status(f"importing {file}…"):
            outcome = import_file(
                engine,
                file,
                now=dt.datetime.now(dt.UTC),
                full_refresh=full_refresh,
                delimiter=delimiter,
                workers=workers,
                clock=time.perf_counter,
            )
    finally:
        engine.dispose()
    if outcome.summary is None:
        _reject(file, outcome.errors, as_json)
    summary = outcome.summary
    timings = {
        "seconds_validate": round(outcome.timings.get("seconds_validate_stage", 0.0), 3),
        "seconds_load": round(outcome.timings.get("seconds_merge", 0.0), 3),
    }
    _print_imported(file, summary, timings, as_json)


def _reject(file: Path, errors: list[RowError], as_json: bool) -> NoReturn:
    """List the file's errors (all of them with ``--json``) and exit 1: nothing was imported."""
    if as_json:
        print_json(
            {
                "ok": False,
                "file": str(file),
                "error_count": len(errors),
                "errors": [
                    {"line": e.line, "field": e.field, "message": str(e.message), "text": str(e)}
                    for e in errors
                ],
            }
        )
    for error in errors[:MAX_ERRORS_SHOWN]:
        err_console.print(str(error), highlight=False, markup=False)
    if len(errors) > MAX_ERRORS_SHOWN:
        more = len(errors) - MAX_ERRORS_SHOWN
        err_console.print(f"… and {more} more errors (use --json for all)")
    fail(f"{file}: {len(errors)} errors; nothing was imported")


def _print_imported(
    file: Path, summary: ImportSummary, timings: dict[str, float], as_json: bool
) -> None:
    """The import's summary: the JSON document, or one line for a person."""
    if as_json:
        print_json({"ok": True, "file": str(file), **summary.as_dict(), **timings})
    else:
        err_console.print(
            f"imported {summary.customers} customers ({summary.customers_created} new), "
            f"{summary.accounts} accounts ({summary.accounts_created} new, "
            f"{summary.accounts_closed} closed), {summary.contact_points} contact points "
            f"({summary.contact_points_retired} absent ones retired)"
        )


@portfolio_app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same file.")] = 1,
    countries: Annotated[
        str, typer.Option(help="Comma-separated ISO country codes to draw customers from.")
    ] = "CO,MX,CL,PE,US",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Write a realistic, deterministic synthetic portfolio (for demos, tests, benchmarks)."""
    from campaigns.portfolio.generate import generate_portfolio

    chosen = tuple(c.strip().upper() for c in countries.split(",") if c.strip())
    progress = Progress(
        TextColumn("generating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    try:
        with progress, output.open("w", encoding="utf-8", newline="") as out:
            task = progress.add_task("generate", total=customers)
            rows = generate_portfolio(
                out,
                customers,
                seed,
                chosen,
                on_progress=lambda n: progress.update(task, completed=n),
            )
    except ValueError as exc:
        fail(str(exc), code=2)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    if as_json:
        print_json({"file": str(output), "customers": customers, "accounts": rows, "seed": seed})
    else:
        err_console.print(f"wrote {customers} customers, {rows} accounts to {output}")


@portfolio_app.command()
def show(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The creditor's customer id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print a customer's 360 view: every account, contact point, consent and promise."""
    from campaigns.portfolio.view import CustomerNotFound, customer_360

    engine = ready_engine(ctx)
    try:
        view = customer_360(engine, customer_id)
    except CustomerNotFound as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if as_json:
        print_json(view)
        return
    console = err_console.__class__()
    console.print(
        f"[bold]{view['name']}[/] ({view['customer_id']}) — {view['country']} "
        f"{view['subdivision'] or ''}, {', '.join(view['timezones'])}, "
        f"language {view['language']}, "
        f"score {view['behavior_score']}, segment {view['segment']}"
    )
    accounts = Table(
        "account", "product", "balance", "currency", "dpd", "minimum", "status", title="Accounts"
    )
    for a in view["accounts"]:
        accounts.add_row(
            a["account_id"],
            a["product"],
            a["balance"],
            a["currency"],
            str(a["days_past_due"]),
            a["minimum_due"],
            a["status"],
        )
    console.print(accounts)
    points = Table(
        "kind", "value", "line", "consent", "since", "source", "opted out", title="Contact points"
    )
    for p in view["contact_points"]:
        points.add_row(
            p["kind"],
            p["value"],
            p["line_type"] or "",
            p["consent"],
            p["consent_at"] or "",
            p["consent_source"] or "",
            p["opted_out_at"] or "",
        )
    console.print(points)
    if view["promises"]:
        promises = Table("amount", "currency", "due", "status", title="Promises to pay")
        for pr in view["promises"]:
            promises.add_row(pr["amount"], pr["currency"], pr["due_on"], pr["status"])
        console.print(promises)
    totals = ", ".join(f"{amount} {cur}" for cur, amount in view["total_due"].items())
    console.print(f"Total due: {totals or 'nothing'}")
