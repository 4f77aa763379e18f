"""A real HTTP endpoint that records what is posted to it (webhook target for tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as it arrived: path with query, headers, raw body."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Listens on 127.0.0.1 (free port), answers 200, keeps every request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer._cond:
                    outer.requests.append(Received(self.path, dict(self.headers.items()), body))
                    outer._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; return them all."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.requests) >= count, timeout)
            if not ok:
                raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
            return list(self.requests)

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
        self._server.server_close()
