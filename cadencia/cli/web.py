"""``cadencia web`` (serve the console) and ``cadencia users add`` (create an account).

Secrets come from the environment or ``*_FILE``: the AMI secret
(``CADENCIA_AMI_SECRET[_FILE]``) and a new account's password
(``CADENCIA_WEB_PASSWORD[_FILE]``, else asked on the terminal, never an argument
that would show in ``ps`` and shell history). Every log line the server
writes goes through ``campaigns.observability.MaskingFilter``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer

from cadencia.cli._common import fail, require_current_schema, settings_of
from campaigns.settings import ConfigError

users_app = typer.Typer(
    help="Console accounts (agents, managers, compliance, admins).", no_args_is_help=True
)


def install_log_masking() -> None:
    """Mask phone numbers and emails on every handler of the root and uvicorn loggers."""
    from campaigns.observability import MaskingFilter

    masking = MaskingFilter()
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.addFilter(masking)
        for handler in logger.handlers:
            handler.addFilter(masking)


def web_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    insecure_cookies: Annotated[
        bool,
        typer.Option(
            "--insecure-cookies",
            help="Send session cookies over plain HTTP (local development only).",
        ),
    ] = False,
    trusted_proxies: Annotated[
        str,
        typer.Option(
            help="Comma-separated addresses of reverse proxies whose X-Forwarded-For names "
            "the browser (login throttling counts failures per browser address).",
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve the web console: agent desktop, campaign dashboard, compliance pages."""
    import uvicorn

    from cadencia.console.app import create_web_app
    from campaigns.storage.db import make_engine

    settings = settings_of(ctx)
    try:
        ami = settings.console_ami()
        softphone = settings.softphone()
    except ConfigError as exc:
        fail(str(exc), code=2)
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    # The namespace the dial jobs publish their agents' calls in (CADENCIA_AGENT_NAMESPACE).
    app = create_web_app(
        engine,
        redis_url=settings.redis_url,
        ami=ami,
        namespace=settings.agent_namespace,
        secure_cookies=not insecure_cookies,
        transfer_queues=settings.transfer_targets(),
        idle_timeout=dt.timedelta(minutes=settings.web_idle_minutes),
        campaign_dir=Path(settings.campaign_dir) if settings.campaign_dir else None,
        max_upload_bytes=settings.web_upload_max_mib * 1024 * 1024,
        recording_dir=settings.recordings().store,
        softphone=softphone,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_masking()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
    )
    server = uvicorn.Server(config)
    install_log_masking()  # uvicorn adds its handlers in Config(); mask those too
    server.run()


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name (lower case).")],
    role: Annotated[str, typer.Option(help="agent | manager | compliance | admin")],
    agent_id: Annotated[
        str | None, typer.Option(help="Agents: the queue member name (AgentConnect's MemberName).")
    ] = None,
    interface: Annotated[
        str | None,
        typer.Option(
            help="Agents: the queue member interface QueuePause names, e.g. PJSIP/agent7."
        ),
    ] = None,
) -> None:
    """Create a console account (password: CADENCIA_WEB_PASSWORD[_FILE], else a prompt)."""
    from cadencia.console.security import AccountError, create_user
    from campaigns.storage.db import make_engine

    password = settings_of(ctx).web_password
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine(settings_of(ctx).database_url)
    require_current_schema(engine)
    try:
        user_id = create_user(
            engine,
            username,
            password,
            role,
            now=dt.datetime.now(dt.UTC),
            agent_id=agent_id,
            queue_interface=interface,
        )
    except AccountError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"created {role} {username} (id {user_id})")
