"""``cadencia recordings``: the retention of call recordings (docs/recording.md)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer

from cadencia.cli._common import err_console, fail, print_json, ready_engine, settings_of

recordings_app = typer.Typer(help="Call recordings: retention.", no_args_is_help=True)


@recordings_app.command("purge")
def purge_command(
    ctx: typer.Context,
    every: Annotated[
        int | None,
        typer.Option(
            min=60,
            help="Purge again every this many seconds until stopped (the schedule).",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Judge retention at this instant (ISO 8601 with offset) instead of now.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Delete the recordings their campaign's ``[recording] retention_days`` no longer keeps.

    Each deletion is recorded: the recording's row gets ``deleted_at`` and the
    reason, and the recordings' log a ``purged`` line; the ledger's
    ``recording`` row stays.
    """
    from campaigns.recordings.purge import purge
    from campaigns.recordings.store import DirectoryStore

    instant = None
    if at is not None:
        try:
            instant = dt.datetime.fromisoformat(at)
        except ValueError:
            fail(f"--now {at!r}: not an ISO 8601 instant", code=2)
        if instant.tzinfo is None:
            fail(f"--now {at!r}: give the UTC offset (2027-01-01T00:00:00+00:00)", code=2)
    store = DirectoryStore(settings_of(ctx).recordings().store)
    engine = ready_engine(ctx)
    try:
        while True:
            done = purge(engine, store, now=instant or dt.datetime.now(dt.UTC))
            if as_json:
                print_json({"purged": [p.as_dict() for p in done]})
            else:
                err_console.print(
                    f"{len(done)} recording(s) past their retention deleted", highlight=False
                )
            if every is None:
                break
            time.sleep(every)
    finally:
        engine.dispose()
