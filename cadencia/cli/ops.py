"""``cadencia worker`` and ``cadencia up``: the processes a run needs on one machine."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Annotated, NoReturn

import typer

from cadencia.cli._common import err_console, fail, settings_of
from campaigns.settings import DEFAULT_DIAL_QUEUE as DIAL_QUEUE
from campaigns.settings import DEFAULT_MESSAGE_QUEUE as MESSAGE_QUEUE
from campaigns.settings import shown_redis_url


def worker(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    queues: Annotated[str, typer.Option(help="Comma-separated RQ queues.")] = (
        f"{DIAL_QUEUE},{MESSAGE_QUEUE}"
    ),
    burst: Annotated[bool, typer.Option(help="Quit when the queues are empty.")] = False,
) -> None:
    """An RQ worker pool with the scheduler, on Cadencia's queues (dial sessions first)."""
    from redis import Redis

    from campaigns.queues import rq_worker_pool

    settings = settings_of(ctx)
    # Work horses are new processes: they rebuild their settings from the
    # environment, which must hold what this one resolved (--db included).
    settings.export()
    names = [q.strip() for q in queues.split(",") if q.strip()]
    from campaigns.messaging.queue import settle_heap

    settle_heap()  # work horses fork from here and inherit the frozen heap
    pool = rq_worker_pool(names, Redis.from_url(settings.redis_url), num_workers=workers)
    shown = shown_redis_url(settings.redis_url)
    err_console.print(f"{workers} workers on {names} (Redis {shown})")
    pool.start(burst=burst)


def desk(ctx: typer.Context) -> None:
    """The call desk: calls to the company number routed and popped; agents' transfers."""
    import asyncio

    from campaigns.calls.service import run_desk
    from campaigns.settings import ConfigError

    try:
        desk = settings_of(ctx).desk()
    except ConfigError as exc:
        fail(str(exc))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_desk(desk, stop)

    err_console.print(f"call desk: inbound queue {desk.queue}")
    asyncio.run(serve())


def up(
    ctx: typer.Context,
    sandbox: Annotated[
        bool, typer.Option(help="Also start the provider stand-in and the Asterisk sandbox.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    webhook_port: Annotated[int, typer.Option(help="Port of the webhook receiver.")] = 8080,
    providers_port: Annotated[int, typer.Option(help="Port of the provider stand-in.")] = 8025,
) -> None:
    """Start workers and the webhook receiver (and sandboxes); Ctrl-C stops them all."""
    settings = settings_of(ctx)
    base = [sys.executable, "-m", "cadencia", "--db", settings.database_url]
    commands: list[list[str]] = []
    if sandbox:
        _start_asterisk()
        commands.append(
            [
                *base,
                "sandbox",
                "providers",
                "--port",
                str(providers_port),
                "--webhooks",
                f"http://127.0.0.1:{webhook_port}",
            ]
        )
    commands.append([*base, "webhooks", "--port", str(webhook_port)])
    commands.append([*base, "worker", "--workers", str(workers)])
    if settings.ami_host:  # a PBX to take the company number's calls from
        commands.append([*base, "desk"])
    children: list[subprocess.Popen[bytes]] = []
    try:
        _run_until_one_exits(commands, children)
    except KeyboardInterrupt:
        err_console.print("stopping…")
    finally:
        _stop(children)
        if sandbox:
            from sandbox import asterisk

            asterisk.stop()


def _start_asterisk() -> None:
    """Start the Asterisk sandbox (``up --sandbox``), or fail saying why it would not."""
    from sandbox import asterisk

    with err_console.status("starting the Asterisk sandbox (first time: builds a Debian root)"):
        try:
            state = asterisk.start()
        except asterisk.SandboxError as exc:
            fail(f"Asterisk sandbox: {exc}")
    err_console.print(f"Asterisk {state.asterisk_version} AMI on {state.host}:{state.port}")


def _run_until_one_exits(
    commands: list[list[str]], children: list[subprocess.Popen[bytes]]
) -> NoReturn:
    """Start ``commands`` (into ``children``), then fail as soon as any of them exits.

    Children are appended as they start, so the caller can stop every one
    that started even if a later start fails.
    """
    for command in commands:
        children.append(subprocess.Popen(command))
        time.sleep(0.5)  # let the stand-in bind before the others point at it
    err_console.print(f"{len(children)} processes up; Ctrl-C stops them")
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    died = next(i for i, c in enumerate(children) if c.poll() is not None)
    name = " ".join(commands[died][5:7])
    fail(f"{name} exited with {children[died].returncode}; stopping the rest")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running; kill those not gone within ten seconds in all."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def metrics(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9108,
) -> None:
    """Serve Prometheus metrics at /metrics: outcomes, abandon rate, runs, queues, failures."""
    from cadencia.metrics import serve_metrics

    serve_metrics(settings_of(ctx), host=host, port=port)
