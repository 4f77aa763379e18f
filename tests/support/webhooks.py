"""The webhook receiver (``campaigns.webhooks``) served by a real uvicorn over HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from sqlalchemy.engine import Engine

from campaigns.messaging import MessagingSettings
from campaigns.webhooks import create_webhook_app


@contextlib.contextmanager
def serving_webhooks(settings: MessagingSettings, engine: Engine, port: int) -> Iterator[str]:
    """The receiver listening on 127.0.0.1:``port`` for the block; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_webhook_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="webhooks", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
