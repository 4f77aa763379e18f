"""``cadencia softphone``: the agents' WebRTC endpoints in Asterisk (docs/softphone.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from cadencia.cli._common import err_console, fail, print_json, ready_engine, settings_of
from campaigns.settings import ConfigError

softphone_app = typer.Typer(help="The agents' WebRTC softphones.", no_args_is_help=True)


@softphone_app.command("provision")
def provision_command(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Reload res_pjsip even if nothing changed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Write one PJSIP endpoint per softphone agent (queue interface PJSIP/<agent id>)
    to CADENCIA_SOFTPHONE_CONFIG and reload res_pjsip through AMI when it changed.

    Run it after adding, deactivating or re-binding an agent (or from a timer).
    """
    from cadencia.console.softphone_provision import ProvisionError, provision

    settings = settings_of(ctx)
    try:
        phone = settings.softphone()
        ami = settings.provision_ami()
    except ConfigError as exc:
        fail(str(exc), code=2)
    if phone is None or not settings.softphone_config:
        fail("set CADENCIA_SOFTPHONE_WSS_URL, CADENCIA_SOFTPHONE_KEY and "
             "CADENCIA_SOFTPHONE_CONFIG to provision softphones", code=2)  # fmt: skip
    path = Path(settings.softphone_config)
    try:
        done = asyncio.run(
            provision(
                ready_engine(ctx), path, key=phone.key, realm=phone.realm, ami=ami, force=force
            )
        )
    except ProvisionError as exc:
        fail(str(exc))
    if as_json:
        print_json({"agents": list(done.agents), "skipped": list(done.skipped),
                    "changed": done.changed, "file": str(path)})  # fmt: skip
    else:
        err_console.print(
            f"{len(done.agents)} softphone endpoint(s) in {path}"
            f"{' (changed, res_pjsip reloaded)' if done.changed else ' (unchanged)'}"
            + (f"; skipped (bad agent id): {', '.join(done.skipped)}" if done.skipped else "")
        )
