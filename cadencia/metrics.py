"""``cadencia metrics``: the Prometheus scrape endpoint, ``/metrics``.

The exposition is prometheus-client's (``generate_latest``); a plain
``def`` endpoint, so Starlette runs the collector's database reads in its
thread pool instead of blocking the event loop.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from campaigns.metrics import metrics_registry
from campaigns.settings import Settings
from campaigns.storage.db import make_engine


def create_metrics_app(registry: CollectorRegistry) -> Starlette:
    """An ASGI app answering ``GET /metrics`` with ``registry``'s exposition."""

    def scrape(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", scrape)])


def serve_metrics(settings: Settings, *, host: str, port: int) -> None:
    """Serve ``/metrics`` until interrupted."""
    import uvicorn

    engine = make_engine(settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    registry = metrics_registry(engine, redis, lambda: dt.datetime.now(dt.UTC))
    try:
        uvicorn.run(create_metrics_app(registry), host=host, port=port, log_level="warning")
    finally:
        engine.dispose()
        redis.close()
