"""The HTTP client under the official ``twilio`` client: urllib3 connection pools.

``twilio.rest.Client`` sends every request through an ``HttpClient`` it is
given (the documented extension point for proxies and custom transports).
Its default, ``TwilioHttpClient``, runs each request through ``requests``,
whose preparation (hooks, cookie jars, proxy and CA look-ups in the
environment, runtime protocol checks) cost about 0.5 ms of CPU per SMS,
more than the rest of a message's path together. Twilio sends one request per
message, so this client goes straight to urllib3's keep-alive pools: the
same requests on the wire, a fraction of the CPU.

Transport failures are classified here, once, into ``TransportError``:
a connection that was never made (refused, connect timeout) is transient and
provably unsent; a read timeout or a connection cut after the request went
out is transient and *ambiguous* (Twilio may have queued the message), so
the caller must not blindly resend it.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3
from twilio.http import HttpClient
from twilio.http.response import Response
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from channels.errors import TransportError

PROVIDER = "twilio"
# twilio's own logger name; this client logs nothing per request (the
# transport reports failures, with numbers masked by the app's log filter).
_log = logging.getLogger("twilio.http_client")


def _ca_bundle() -> str | None:
    try:
        import certifi
    except ImportError:  # the system's trust store, then
        return None
    return str(certifi.where())


def _encode_body(
    method: str, data: dict[str, object] | None, headers: dict[str, str]
) -> bytes | None:
    """The request body: ``data`` as JSON, or as a form; none for GET and DELETE.

    A form gets its Content-Type in ``headers`` unless one is given.
    """
    if data is None or method.upper() in ("GET", "DELETE"):
        return None
    if headers.get("Content-Type", "").endswith("json"):
        return json.dumps(data).encode("utf-8")
    body = urlencode(data, doseq=True).encode("utf-8")
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return body


class BaseUrlHttpClient(HttpClient):
    """A ``twilio`` ``HttpClient`` that sends every request to ``base_url``
    instead of ``*.twilio.com`` (a regional edge, a proxy, or the local
    stand-in), keeping the path, over pooled keep-alive connections.

    Remembers each thread's last response so callers can read headers such
    as ``Retry-After`` that ``TwilioRestException`` does not carry.
    ``trust_env``: honour ``HTTPS_PROXY``/``HTTP_PROXY`` (read once, here,
    not on every request as ``requests`` does).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        connect_timeout: float | None = None,
        pool_size: int = 32,
        trust_env: bool = True,
    ) -> None:
        super().__init__(logger=_log, is_async=False, timeout=timeout)
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Twilio base URL {base_url!r} must be http(s)://host[:port][/prefix]")
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path
        self._connect_timeout = connect_timeout if connect_timeout is not None else timeout
        self._local = threading.local()
        proxy = urllib.request.getproxies().get(parts.scheme) if trust_env else None
        options: dict[str, Any] = {"maxsize": pool_size, "block": False, "retries": False}
        if parts.scheme == "https":
            options["ca_certs"] = _ca_bundle()
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def rewrite(self, url: str) -> str:
        """``https://api.twilio.com/2010-04-01/...`` → ``<base>/2010-04-01/...``."""
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request; return twilio's ``Response`` or raise ``TransportError``."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        read_timeout = timeout if timeout is not None else self.timeout
        url = self.rewrite(uri)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        send_headers = dict(headers or {})
        if auth is not None:
            send_headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        body = _encode_body(method, data, send_headers)
        raw = self._send_pooled(method, url, body, send_headers, read_timeout, allow_redirects)
        response = Response(raw.status, raw.data.decode("utf-8", "replace"), raw.headers)
        self._local.last = response
        return response

    def _send_pooled(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        read_timeout: float | None,
        allow_redirects: bool,
    ) -> urllib3.BaseHTTPResponse:
        """One attempt on the pool, its failures classified into ``TransportError``."""
        try:
            return self._pool.request(
                method.upper(),
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=read_timeout),
                redirect=allow_redirects,
                retries=False,
            )
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # Never connected: nothing reached Twilio. (urllib3 makes
            # NewConnectionError a ConnectTimeoutError; both mean unsent.)
            raise TransportError(
                f"Twilio unreachable at {self._netloc}: {exc}", provider=PROVIDER, permanent=False
            ) from None
        except ReadTimeoutError as exc:
            raise TransportError(
                f"Twilio timed out after {read_timeout}s: {exc}",
                provider=PROVIDER,
                permanent=False,
                ambiguous=True,
            ) from None
        except (ProtocolError, HTTPError, OSError) as exc:
            raise TransportError(
                f"Twilio connection failed mid-request: {exc}",
                provider=PROVIDER,
                permanent=False,
                ambiguous=True,
            ) from None

    def last_response_header(self, name: str) -> str | None:
        """A header of this thread's last response, if any."""
        last: Response | None = getattr(self._local, "last", None)
        if last is None or not last.headers:
            return None
        value = last.headers.get(name)
        return str(value) if value is not None else None

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()
