"""Message-job test-beds: US debtors, the provider stand-in over real HTTP (the
``standin`` fixture), the worker settings, and the ``World`` a job test drives.

Shared by the job, webhook and fault tests."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy.engine import Engine

from campaigns.messaging import MessageBatch, MessagingSettings, PlannedMessage, Senders
from campaigns.queues import rq_worker
from campaigns.storage.models import Customer
from channels import ChannelSettings
from sandbox.providers import StandinHandle, WebhookMix, start_standin
from tests.support.portfolio import us_row

SENDERS = {"default": Senders(email="cobranza@bank.example", sms="+15005550006")}
OPT_OUT_URL = "https://bank.example/opt-out/{customer}/{channel}"


def zone_at_local_hour(hour: int, now: dt.datetime | None = None) -> str:
    """An ``Etc/GMT±N`` zone where it is now about ``hour`` o'clock (tests run at any time)."""
    now = now or dt.datetime.now(dt.UTC)
    offset = (hour - now.hour + 12) % 24 - 12  # within -12..+11
    # Etc/GMT names invert the sign: Etc/GMT-5 is UTC+5.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def portfolio_rows(n: int) -> list[dict[str, str]]:
    """``n`` New York debtors U0..U{n-1}, one account each, email and mobile on file."""
    return [
        us_row(
            customer_id=f"U{i}",
            customer_name=f"Mary Smith{i}",
            account_id=f"UA{i}",
            phone_1=f"+1 212 555 {1000 + i:04d}",
            email=f"mary{i}@example.com",
        )
        for i in range(n)
    ]


def set_zone(engine: Engine, zone: str, customers: list[str] | None = None) -> None:
    """Put debtors in ``zone`` (test control of 'what time is it for them')."""
    with engine.begin() as conn:
        query = sa.update(Customer).values(timezones=zone)
        if customers is not None:
            query = query.where(Customer.external_id.in_(customers))
        conn.execute(query)


@dataclass
class World:
    """Everything a job test needs."""

    engine: Engine
    settings: MessagingSettings
    standin: StandinHandle
    redis: Redis
    queue: Queue

    def batch(
        self,
        customers: list[str],
        channel: str = "email",
        *,
        batch_id: str = "b1",
        start: dt.datetime | None = None,
        minutes: int = 60,
        not_after: dt.datetime | None = None,
    ) -> MessageBatch:
        """A batch for ``customers`` starting now (or ``start``)."""
        start = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        return MessageBatch(
            batch_id=batch_id,
            campaign="default",
            channel=channel,  # type: ignore[arg-type]
            slot_start=start,
            slot_end=start + dt.timedelta(minutes=minutes),
            messages=tuple(PlannedMessage(f"{batch_id}:{c}:{channel}", c) for c in customers),
            not_after=not_after,
        )

    def drain(self, timeout: float = 30.0) -> None:
        """Run burst workers (with the scheduler) until nothing is queued or scheduled."""
        scheduled = ScheduledJobRegistry(queue=self.queue)
        deadline = time.monotonic() + timeout
        while True:
            rq_worker([self.queue], self.redis, SimpleWorker).work(burst=True, with_scheduler=True)
            if not len(self.queue) and not scheduled.get_job_ids():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still scheduled after {timeout}s")
            time.sleep(0.2)


@pytest.fixture()
def standin() -> Iterator[StandinHandle]:
    """The provider stand-in, no random bounces or replies."""
    handle = start_standin(
        mix=WebhookMix(bounced=0.0, opened=0.0, failed=0.0, replied=0.0), webhook_delay_s=0.05
    )
    try:
        yield handle
    finally:
        handle.stop()


def make_settings(
    database_url: str, redis_url: str, standin: StandinHandle, **overrides: object
) -> MessagingSettings:
    """Settings pointing at the stand-in, with US opt-out URLs and default senders."""
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "channels": ChannelSettings.from_mapping(
            {
                **standin.env(),
                "PAYMENT_LINK_URL_PATTERN": "https://pay.bank.example/p/{token}",
                "PAYMENT_LINK_SECRET": "test-link-secret",
            }
        ),
        "senders": SENDERS,
        "opt_out_url": OPT_OUT_URL,
        "standin_url": standin.base_url,
        "queue": "messages-test",
    }
    values.update(overrides)
    return MessagingSettings(**values)  # type: ignore[arg-type]
