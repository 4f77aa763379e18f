"""``cadencia model show``: the value model as learned from the ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cadencia.cli._common import err_console, fail, print_json, ready_engine

model_app = typer.Typer(help="The value model tomorrow's plan will use.", no_args_is_help=True)


@model_app.command("show")
def show(
    ctx: typer.Context,
    campaign: Annotated[Path, typer.Option(help="Campaign file (TOML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Right-party and promise rates per segment × channel: data vs the campaign's priors."""
    from campaigns.campaign import CampaignFileError, load_campaign
    from campaigns.run.model import learned_model

    try:
        loaded = load_campaign(campaign)
    except CampaignFileError as exc:
        for error in exc.errors:
            err_console.print(error, markup=False, highlight=False)
        fail(f"{campaign}: invalid campaign file", code=2)
    engine = ready_engine(ctx)
    try:
        model = learned_model(engine, loaded, now=dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    if as_json:
        print_json(model)
        return
    table = Table(
        "segment",
        "channel",
        "attempts",
        "RPC (raw / learned / prior)",
        "promises (raw / prior)",
        "kept (of settled, raw / prior)",
        "pay per contact (learned / prior)",
        title=f"{model['campaign']}: {model['events']} ledger events, "
        f"last {model['window_days']} days ({model['customers']} customers in the campaign "
        f"and {model['departed_payers']} who paid and left it)",
    )
    for c in model["cells"]:
        table.add_row(
            c["segment"],
            c["channel"],
            str(c["attempts"]),
            f"{c['right_party_contacts']}: {_share(c['raw_rpc_rate'])} / "
            f"{_share(c['learned_rpc_rate_mean_over_hours'])} / {_share(c['prior_rpc_rate'])}",
            f"{c['promises']}: {_share(c['raw_promise_rate'])} / {_share(c['prior_promise_rate'])}",
            f"{c['kept_promises']} of {c['settled_promises']}: {_share(c['raw_kept_rate'])} / "
            f"{_share(c['prior_kept_rate'])}",
            f"{_share(c['learned_pay_per_contact'])} / {_share(c['prior_pay_per_contact'])}",
        )
    Console().print(table)


def _share(rate: float | None) -> str:
    """A rate as a percentage, or a dash when there was nothing to measure."""
    return "–" if rate is None else f"{100 * rate:.1f}%"
