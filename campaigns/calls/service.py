"""``cadencia desk``: the call desk of one Asterisk server (inbound calls and transfers)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

from campaigns.calls.desk import InboundDesk
from campaigns.calls.live import LIVE_EVERY_S, publish_live
from campaigns.calls.supervision import SupervisionDesk
from campaigns.calls.transfer_desk import TransferDesk
from campaigns.recordings.desk import RecordingDesk
from campaigns.recordings.store import DirectoryStore
from campaigns.settings import DeskSettings
from campaigns.storage.db import make_engine
from dialer.ami.client import AmiClient

log = logging.getLogger(__name__)


async def run_desk(
    settings: DeskSettings,
    stop: asyncio.Event,
    *,
    now: Callable[[], dt.datetime] | None = None,
) -> None:
    """Serve the inbound queue, the transfer and recording requests until ``stop`` is set.

    Calls' recordings are kept as their calls end (``campaigns.recordings``).

    ``now`` is the instant the ledger records (the real time unless a
    compressed day shares one clock with the console and the dial session).
    """
    dialer = settings.dialer
    engine = make_engine(dialer.database_url)
    redis = Redis.from_url(dialer.redis_url, socket_timeout=5, socket_connect_timeout=5)
    client = AmiClient(dialer.ami_host, dialer.ami_port, dialer.ami_username, dialer.ami_secret)
    namespace = dialer.agent_namespace
    inbound = InboundDesk(engine, client, redis, settings.queue, settings.region, namespace)
    transfers = TransferDesk(engine, client, redis, namespace)
    supervision = SupervisionDesk(client, redis, namespace)
    store = DirectoryStore(settings.recordings.store)
    recordings = RecordingDesk(engine, client, redis, settings.recordings, store, namespace)
    if now is not None:
        inbound.now = transfers.now = recordings.now = now
    client.add_event_handler(inbound.on_event)
    client.add_event_handler(transfers.on_event)
    client.add_event_handler(supervision.on_event)
    client.add_event_handler(recordings.on_event)
    try:
        await client.connect()
        log.info(
            "call desk: inbound queue %s (caller IDs read in %s)", settings.queue, settings.region
        )
        live = asyncio.create_task(_publish_live(inbound, redis, namespace, stop))
        try:
            await asyncio.gather(
                transfers.serve(stop), recordings.serve(stop), supervision.serve(stop)
            )
        finally:
            live.cancel()
        await recordings.drain()  # the calls that just ended keep their recordings
    finally:
        await client.close()
        redis.close()
        engine.dispose()


async def _publish_live(
    inbound: InboundDesk, redis: Redis, namespace: str, stop: asyncio.Event
) -> None:
    """The inbound queue's waiting callers, once a second, for the wallboard."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(publish_live, redis, namespace, inbound.live())
        except RedisError as exc:  # the wallboard misses a second; the calls go on
            log.debug("inbound live figures not written: %s", exc)
        await asyncio.sleep(LIVE_EVERY_S)
