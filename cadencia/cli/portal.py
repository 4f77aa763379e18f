"""``cadencia portal``: serve the debtor portal (``/p/<reference>``, docs/portal.md).

A process of its own, beside the console: the portal faces the public
internet, the console the staff. Its session cookies are signed with
``CADENCIA_PORTAL_SECRET`` (set it when several portal processes serve the
same links). Every log line goes through the masking filter.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cadencia.cli._common import fail, require_current_schema, settings_of
from campaigns.settings import ConfigError


def portal_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8010,
    insecure_cookies: Annotated[
        bool,
        typer.Option(
            "--insecure-cookies", help="Send cookies over plain HTTP (local development only)."
        ),
    ] = False,
    trusted_proxies: Annotated[
        str, typer.Option(help="Comma-separated reverse proxies whose X-Forwarded-* to trust.")
    ] = "127.0.0.1",
) -> None:
    """Serve the debtor portal: the page behind every message's link."""
    import uvicorn

    from cadencia.cli.web import install_log_masking
    from cadencia.portal.app import create_portal_app
    from campaigns.storage.db import make_engine

    settings = settings_of(ctx)
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    try:
        stripe = settings.stripe()
    except ConfigError as exc:
        fail(str(exc), code=2)
    app = create_portal_app(
        engine,
        secret=settings.portal_secret,
        secure_cookies=not insecure_cookies,
        stripe=stripe,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
    )  # fmt: skip
    server = uvicorn.Server(config)
    install_log_masking()  # uvicorn adds its handlers in Config(); mask those too
    server.run()
