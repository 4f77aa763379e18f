"""Prometheus metrics, computed on each scrape from the ledger, the runs and RQ.

A custom collector rather than counters kept in memory: the figures belong
to the ledger and RQ, which many processes write, so every scrape reads them
afresh and any metrics process reports the same numbers. prometheus-client
writes the exposition (escaping label values, one family's samples together).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS
from campaigns.storage.models import Run

# The RQ queues whose backlog and failures are reported.
QUEUES = ("dialer", "messages")
# Voice outcomes where a person answered: the denominator of the abandon rate.
LIVE_ANSWERS = ("conversation", "abandoned", "wrong_party")


class LedgerCollector(Collector):
    """Today's attempts, abandon rate, pending attempts, runs by state, and RQ's queues."""

    def __init__(
        self, engine: Engine, redis: Redis | None, clock: Callable[[], dt.datetime]
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """One scrape's metric families."""
        since = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        yield from self._ledger_families(since)
        if self.redis is not None:
            yield from self._queue_families(self.redis)

    def _ledger_families(self, since: dt.datetime) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(EVENTS.c.channel, EVENTS.c.outcome, EVENTS.c.campaign, sa.func.count())
                .where(
                    EVENTS.c.kind == "attempt",
                    EVENTS.c.at >= since,
                    EVENTS.c.outcome.is_not(None),
                )
                .group_by(EVENTS.c.channel, EVENTS.c.outcome, EVENTS.c.campaign)
            ).all()
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(EVENTS)
                .where(
                    EVENTS.c.kind == "attempt",
                    EVENTS.c.status == "pending",
                    EVENTS.c.at >= since,
                )
            ).scalar_one()
            runs = conn.execute(sa.select(Run.state, sa.func.count()).group_by(Run.state)).all()
        attempts = GaugeMetricFamily(
            "cadencia_attempts_today",
            "Attempt outcomes recorded since 00:00 UTC.",
            labels=["channel", "outcome", "campaign"],
        )
        live: dict[str, int] = {}
        abandoned: dict[str, int] = {}
        for channel, outcome, campaign, count in rows:
            attempts.add_metric([channel, outcome, campaign or ""], count)
            if channel == "voice" and outcome in LIVE_ANSWERS:
                live[campaign or ""] = live.get(campaign or "", 0) + count
                if outcome == "abandoned":
                    abandoned[campaign or ""] = abandoned.get(campaign or "", 0) + count
        yield attempts
        ratio = GaugeMetricFamily(
            "cadencia_abandon_ratio_today",
            "Abandoned calls over live answers today.",
            labels=["campaign"],
        )
        for campaign, answered in sorted(live.items()):
            ratio.add_metric([campaign], abandoned.get(campaign, 0) / answered)
        yield ratio
        yield GaugeMetricFamily(
            "cadencia_attempts_pending",
            "Attempts reserved today and not yet settled.",
            value=pending,
        )
        by_state = GaugeMetricFamily("cadencia_runs", "Runs by state.", labels=["state"])
        for state, count in runs:
            by_state.add_metric([state], count)
        yield by_state

    def _queue_families(self, redis: Redis) -> Iterator[Metric]:
        from rq.registry import FailedJobRegistry

        from campaigns.queues import rq_queue

        waiting = GaugeMetricFamily(
            "cadencia_queue_jobs", "Jobs waiting per RQ queue.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "cadencia_failed_jobs", "Jobs in RQ's failed registry.", labels=["queue"]
        )
        for name in QUEUES:
            queue = rq_queue(name, connection=redis)
            waiting.add_metric([name], queue.count)
            failed.add_metric([name], FailedJobRegistry(queue=queue).count)
        yield waiting
        yield failed


def metrics_registry(
    engine: Engine, redis: Redis | None, clock: Callable[[], dt.datetime]
) -> CollectorRegistry:
    """A registry holding only Cadencia's collector (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(engine, redis, clock))
    return registry


def render_metrics(engine: Engine, redis: Redis | None, *, now: dt.datetime) -> str:
    """The exposition text one scrape at ``now`` returns."""
    return generate_latest(metrics_registry(engine, redis, lambda: now)).decode("utf-8")
