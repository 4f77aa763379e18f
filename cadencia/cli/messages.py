"""``cadencia messages …``, ``cadencia webhooks`` and the provider stand-in command.

Configuration is read once here, at the entry point (``MessagingSettings``),
and handed down; worker processes rebuild it from the same environment.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from cadencia.cli._common import err_console, fail, print_json, settings_of
from campaigns.settings import MessagingSettings

messages_app = typer.Typer(
    help="Message batches (email, SMS, WhatsApp): enqueue, run workers, find loose ends.",
    no_args_is_help=True,
)


def _messaging(ctx: typer.Context) -> MessagingSettings:
    return settings_of(ctx).messaging()


@messages_app.command("enqueue")
def enqueue(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON: one batch object or a list of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Schedule message batches for their slots (``enqueue_at``); the same batch id once."""
    from campaigns.messaging import BatchError, MessageBatch, enqueue_batch, message_queue

    settings = _messaging(ctx)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror}")
    except ValueError as exc:
        fail(f"{file}: not JSON: {exc}")
    items = raw if isinstance(raw, list) else [raw]
    try:
        batches = [MessageBatch.from_payload(b, f"{file}[{i}]") for i, b in enumerate(items)]
    except BatchError as exc:
        fail(str(exc))
    queue = message_queue(settings)
    jobs = [
        {
            "batch_id": b.batch_id,
            "job_id": (job := enqueue_batch(queue, b)).id,
            "status": str(job.get_status()),
            "messages": len(b.messages),
            "at": b.slot_start.isoformat(),
        }
        for b in batches
    ]
    if as_json:
        print_json(jobs)
    else:
        for j in jobs:
            err_console.print(
                f"{j['job_id']}: {j['messages']} messages at {j['at']} ({j['status']})"
            )


@messages_app.command("worker")
def worker(
    ctx: typer.Context,
    burst: Annotated[bool, typer.Option(help="Quit when the queue is empty.")] = False,
) -> None:
    """Run an RQ worker for message batches, with the scheduler (slots and retries)."""
    from redis import Redis

    from campaigns.queues import rq_worker

    settings = _messaging(ctx)
    settings_of(ctx).export()  # work horses rebuild their settings from the environment
    redis = Redis.from_url(settings.redis_url)
    from campaigns.messaging.queue import settle_heap

    settle_heap()  # work horses fork from here and inherit the frozen heap
    rq_worker([settings.queue], redis).work(with_scheduler=True, burst=burst)


@messages_app.command("pending")
def pending(
    ctx: typer.Context,
    older_than: Annotated[
        float, typer.Option(help="Only attempts reserved at least this many minutes ago.")
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Message attempts still without an outcome: in flight, or ambiguous after a crash."""
    import sqlalchemy as sa

    from campaigns.ledger.chain import EVENTS
    from campaigns.storage.db import make_engine

    engine = make_engine(settings_of(ctx).database_url)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=older_than)
    resolved = sa.select(EVENTS.c.resolves_id).where(EVENTS.c.resolves_id.is_not(None))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    EVENTS.c.id,
                    EVENTS.c.at,
                    EVENTS.c.customer_id,
                    EVENTS.c.channel,
                    EVENTS.c.contact_point,
                    EVENTS.c.idempotency_key,
                )
                .where(
                    EVENTS.c.kind == "attempt",
                    EVENTS.c.status == "pending",
                    EVENTS.c.channel != "voice",
                    EVENTS.c.resolves_id.is_(None),
                    EVENTS.c.at <= cutoff,
                    EVENTS.c.id.not_in(resolved),
                )
                .order_by(EVENTS.c.id)
            ).all()
    finally:
        engine.dispose()
    found = [
        {
            "attempt_id": r.id,
            "at": r.at.isoformat(),
            "customer_id": r.customer_id,
            "channel": r.channel,
            "contact_point": r.contact_point,
            "key": r.idempotency_key,
        }
        for r in rows
    ]
    if as_json:
        print_json(found)
    else:
        for f in found:
            err_console.print(
                f"attempt {f['attempt_id']} {f['channel']} to {f['contact_point']} "
                f"({f['customer_id']}) reserved {f['at']}: no outcome"
            )
        err_console.print(f"{len(found)} unresolved message attempts")


def webhooks_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve the provider webhook receiver (SendGrid events, Twilio callbacks and replies)."""
    import uvicorn

    from campaigns.observability import mask_server_logs
    from campaigns.storage.db import make_engine
    from campaigns.webhooks import create_webhook_app

    settings = _messaging(ctx)
    engine = make_engine(settings.database_url)
    try:
        app = create_webhook_app(settings, engine, event_clock=settings_of(ctx).clock())
    except ValueError as exc:
        fail(f"SENDGRID_WEBHOOK_PUBLIC_KEY: {exc}", code=2)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    mask_server_logs()  # uvicorn adds its handlers in Config(); mask those too
    server.run()


def sandbox_providers(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8025,
    webhooks: Annotated[
        str | None,
        typer.Option(
            help="Base URL of `cadencia webhooks` to post events to, e.g. http://127.0.0.1:8080."
        ),
    ] = None,
    mix: Annotated[
        str | None,
        typer.Option(help='Outcome mix as JSON, e.g. \'{"bounced": 0.05, "replied": 0.1}\'.'),
    ] = None,
    delay: Annotated[float, typer.Option(help="Seconds before webhooks are sent.")] = 1.0,
) -> None:
    """Run the local SendGrid/Twilio stand-in in the foreground (prints the env to use)."""
    from sandbox.providers import WebhookMix, run_forever

    try:
        outcome_mix = WebhookMix.from_dict(json.loads(mix)) if mix else None
    except ValueError as exc:
        fail(f"--mix: {exc}", code=2)
    base = webhooks.rstrip("/") if webhooks else None
    run_forever(
        host,
        port,
        mix=outcome_mix,
        webhook_delay_s=delay,
        sendgrid_webhook_url=f"{base}/webhooks/sendgrid" if base else None,
        twilio_status_url=f"{base}/webhooks/twilio/status" if base else None,
        twilio_inbound_url=f"{base}/webhooks/twilio/inbound" if base else None,
    )
