"""``cadencia run …``: launch, resume, approve, cancel and watch a campaign's day."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cadencia.cli._common import err_console, fail, print_json, ready_engine, settings_of
from campaigns.run.state import Step
from campaigns.settings import Settings

run_app = typer.Typer(
    help="The daily run: plan, (approve), dispatch, execute, close. Safe to run twice.",
    invoke_without_command=True,
)


POLL_SECONDS = 2.0


def _execution_step(settings: Settings) -> Step:
    """Dispatch message batches and voice slots' dial sessions to the queues on ``redis_url``."""
    from redis import Redis

    from cadencia.cli.ops import DIAL_QUEUE, MESSAGE_QUEUE
    from campaigns.run.launch import queued_step

    return queued_step(
        Redis.from_url(settings.redis_url),
        clock=settings.clock(),
        message_queue=MESSAGE_QUEUE,
        dial_queue=DIAL_QUEUE,
    )


def _show(status_dict: dict[str, object]) -> None:
    table = Table("field", "value", title=f"Run {status_dict['run_id']}")
    for key in ("campaign", "day", "state", "error"):
        table.add_row(key, str(status_dict[key]))
    summary = status_dict["summary"]
    assert isinstance(summary, dict)
    for key in (
        "customers",
        "planned_attempts",
        "by_channel",
        "by_arm",
        "objective",
        "upper_bound",
        "gap_pct",
        "excluded",
        "left_out_customers",
        "seconds",
    ):
        if key in summary:
            table.add_row(key, str(summary[key]))
    table.add_row("planned contacts by status", str(status_dict["planned_by_status"]))
    Console().print(table)


@run_app.callback()
def run(
    ctx: typer.Context,
    campaign: Annotated[Path | None, typer.Option(help="Campaign file (TOML).")] = None,
    date: Annotated[str | None, typer.Option(help="The day to run, YYYY-MM-DD.")] = None,
    resume: Annotated[int | None, typer.Option(help="Carry on an interrupted run.")] = None,
    approve_gate: Annotated[
        bool, typer.Option("--approve", help="Stop after planning until `run approve`.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stay until the day is executed and the run closed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable status.")] = False,
) -> None:
    """Start (or continue) a campaign's day: `--campaign FILE --date D`, or `--resume RUN_ID`.

    Running the same campaign and date twice continues the same run; nothing
    already planned or dispatched is done again.
    """
    if ctx.invoked_subcommand is not None:
        return
    from campaigns.campaign import CampaignFileError
    from campaigns.run.state import RunError, advance, create_run, status

    if resume is None and (campaign is None or date is None):
        fail("give --campaign FILE --date YYYY-MM-DD, or --resume RUN_ID", code=2)
    engine = ready_engine(ctx)
    clock = settings_of(ctx).clock()
    step = _execution_step(settings_of(ctx))
    try:
        if resume is not None:
            run_id = resume
        else:
            assert campaign is not None and date is not None
            try:
                day = dt.date.fromisoformat(date)
            except ValueError:
                fail(f"--date: {date!r} is not YYYY-MM-DD", code=2)
            run_id = create_run(engine, campaign, day, needs_approval=approve_gate, now=clock.now())
        with err_console.status(f"run {run_id}: planning and dispatching…"):
            state = advance(engine, run_id, now=clock.now(), dispatch=step)
        while wait and state not in ("closed", "cancelled", "awaiting_approval"):
            time.sleep(POLL_SECONDS)
            state = advance(engine, run_id, now=clock.now(), dispatch=step)
        report = status(engine, run_id).as_dict()
    except CampaignFileError as exc:
        for error in exc.errors:
            err_console.print(error, markup=False, highlight=False)
        fail(f"{campaign}: {len(exc.errors)} errors in the campaign file", code=2)
    except RunError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if as_json:
        print_json(report)
    else:
        _show(report)


@run_app.command("status")
def run_status(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable status.")] = False,
) -> None:
    """A run's state, plan summary and progress."""
    from campaigns.run.state import RunError, status

    engine = ready_engine(ctx)
    try:
        report = status(engine, run_id).as_dict()
    except RunError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if as_json:
        print_json(report)
    else:
        _show(report)


@run_app.command("approve")
def run_approve(
    ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="The run's id.")]
) -> None:
    """Release a plan held by `--approve` for dispatch."""
    from campaigns.run.state import RunError, advance, approve

    engine = ready_engine(ctx)
    clock = settings_of(ctx).clock()
    try:
        approve(engine, run_id, now=clock.now())
        state = advance(engine, run_id, now=clock.now(), dispatch=_execution_step(settings_of(ctx)))
    except RunError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    err_console.print(f"run {run_id} approved; now {state}")


@run_app.command("cancel")
def run_cancel(
    ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="The run's id.")]
) -> None:
    """Withdraw a run's plan before it is dispatched (final for that campaign-day)."""
    from campaigns.run.state import RunError, cancel

    engine = ready_engine(ctx)
    try:
        cancel(engine, run_id, now=settings_of(ctx).clock().now())
    except RunError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    err_console.print(f"run {run_id} cancelled")


def report(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A run's id, or 'uplift' for money per arm over --from/--to.")
    ],
    html_dir: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report here.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report's data as JSON.")
    ] = False,
    first: Annotated[
        str | None, typer.Option("--from", help="uplift: first run day (YYYY-MM-DD).")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="uplift: last run day.")] = None,
    campaign: Annotated[str | None, typer.Option(help="uplift: only this campaign.")] = None,
) -> None:
    """A run's report (plan review before dispatch, results after), or ``uplift``.

    ``cadencia report 7 --html out/`` writes run 7's report with charts;
    ``cadencia report uplift --from 2026-12-01 --to 2026-12-31`` gives the money
    each arm collected per customer over those days' runs, with 95% intervals.
    """
    if target == "uplift":
        _uplift_report(ctx, first, last, campaign, as_json)
        return
    if not target.isdigit():
        fail(f"{target!r}: give a run id (a number) or 'uplift'", code=2)
    from campaigns.run.report.data import report_data
    from campaigns.run.report.html import render_html

    engine = ready_engine(ctx)
    try:
        data = report_data(engine, int(target))
    except LookupError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if html_dir is not None:
        path = render_html(data, html_dir)
        err_console.print(f"report written to {path.resolve()}")
    if as_json or html_dir is None:
        print_json(data)


def _day(value: str | None, option: str) -> dt.date:
    if value is None:
        fail(f"report uplift needs {option} YYYY-MM-DD", code=2)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: not a date (YYYY-MM-DD)", code=2)


def _uplift_report(
    ctx: typer.Context, first: str | None, last: str | None, campaign: str | None, as_json: bool
) -> None:
    from campaigns.run.report.money import uplift_between

    start, end = _day(first, "--from"), _day(last, "--to")
    if end < start:
        fail(f"--to {end} is before --from {start}", code=2)
    engine = ready_engine(ctx)
    try:
        found = uplift_between(engine, start, end, campaign=campaign)
    finally:
        engine.dispose()
    if as_json:
        print_json(found)
        return
    if not found:
        err_console.print(f"no runs from {start} to {end}")
    for item in found:
        _print_money(item)


def _print_money(item: dict[str, Any]) -> None:
    """One campaign's money per arm as a table a manager reads."""
    currency = item["currency"]
    table = Table(
        "arm",
        "customers",
        "payers",
        f"collected ({currency})",
        f"per customer ({currency})",
        title=f"{item['campaign']}: {item['runs']} runs, {item['days'][0]} to {item['days'][-1]}",
    )
    for arm, f in item["arms"].items():
        per = "–" if f["per_customer"] is None else f"{f['per_customer']:,.2f}"
        table.add_row(arm, f"{f['customers']:,}", f"{f['payers']:,}", f"{f['collected']:,.2f}", per)
    Console().print(table)
    for name, uplift in item["uplift_per_customer"].items():
        if uplift is None:
            Console().print(f"uplift {name.replace('_', ' ')}: too few customers to tell")
            continue
        Console().print(
            f"uplift {name.replace('_', ' ')}: {uplift['difference']:+,.2f} {currency} per "
            f"customer (95% interval {uplift['ci95_low']:+,.2f} to {uplift['ci95_high']:+,.2f})"
        )
