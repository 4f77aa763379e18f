"""An asyncio AMI client built for a dialer.

Guarantees, and why each matters to a collections dialer:

* **Responses are matched by ActionID.** Every action gets a fresh ActionID
  and a future; responses may arrive in any order between events.
* **Event lists are aggregated.** An action answered with ``EventList: start``
  (QueueStatus, CoreShowChannels...) resolves only when the list's
  ``EventList: Complete`` event arrives, with the items in
  :attr:`AmiResponse.events`; those items are not passed to event handlers.
* **Events are handled in arrival order**, by one dispatcher task that awaits
  each async handler in turn. A slow handler delays later events but never
  the socket reader, so Ping answers (and the watchdog) keep working. A
  handler that raises is logged and the next event is still delivered.
* **A half-open socket is detected.** A watchdog sends ``Ping`` every
  ``ping_interval`` seconds; no answer within ``ping_timeout`` means the
  peer is gone (cable pulled, NAT dropped the flow) even though TCP has not
  noticed, and the connection is torn down and re-established.
* **Reconnection with back-off**, doubling from ``backoff_initial`` to
  ``backoff_max`` with jitter; :meth:`AmiClient.close` interrupts the wait.
  Handlers registered with :meth:`AmiClient.add_connection_handler` learn of
  every loss and recovery (in order with the events), so the agent board can
  resynchronise with QueueStatus.
* **No action is ever re-sent.** An action in flight when the connection
  drops fails with :class:`AmiConnectionLost`; for an Originate this is
  :class:`OriginateOutcomeUnknown`, because Asterisk may or may not have
  placed the call. Replaying it could ring a debtor twice, so the caller must
  reconcile by the call's ``ChannelId`` (which it chose before sending: see
  :meth:`AmiClient.originate`) instead of retrying blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dialer.ami.protocol import (
    AmiEvent,
    AmiGreeting,
    AmiMessage,
    AmiParser,
    AmiResponse,
    encode_action,
)

log = logging.getLogger(__name__)

EventHandler = Callable[[AmiEvent], Awaitable[None]]


@dataclass(frozen=True)
class ConnectionChange:
    """The client connected (and logged in) or lost its connection.

    ``generation`` counts successful logins: 1 for the first, 2 after the
    first reconnection, and so on.
    """

    connected: bool
    generation: int
    reason: str


ConnectionHandler = Callable[[ConnectionChange], Awaitable[None]]


def _describe(item: object) -> str:
    """An AMI event or connection change by its kind and ids, without its other fields."""
    if isinstance(item, AmiEvent):
        ids = ", ".join(
            f"{key}={value}"
            for key in ("Uniqueid", "Linkedid", "ActionID")
            if (value := item.get(key)) is not None
        )
        return f"event {item.name}" + (f" ({ids})" if ids else "")
    if isinstance(item, ConnectionChange):
        return f"connection change (connected={item.connected}, generation={item.generation})"
    return type(item).__name__


class AmiError(Exception):
    """Base class of the client's errors."""


class AmiNotConnected(AmiError):
    """The action was NOT sent: the client is not connected right now."""


class AmiAuthError(AmiError):
    """Asterisk refused the username/secret."""


class AmiConnectionLost(AmiError):
    """The connection dropped after the action was sent, before its answer."""

    def __init__(self, message: str, action: str, action_id: str) -> None:
        super().__init__(message)
        self.action = action
        self.action_id = action_id


class OriginateOutcomeUnknown(AmiConnectionLost):
    """An Originate was sent but its answer never came (connection lost or timeout).

    The call may be ringing right now. It will NOT be re-sent: reconcile by
    :attr:`channel_id` (CoreShowChannels, Hangup/OriginateResponse events
    carrying that Uniqueid, or the ledger) before dialing that person again.
    """

    def __init__(self, message: str, action_id: str, channel_id: str) -> None:
        super().__init__(message, "Originate", action_id)
        self.channel_id = channel_id


class AmiTimeout(AmiError):
    """No answer to a (non-Originate) action within its timeout."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; :attr:`response` has the details."""

    def __init__(self, action: str, response: AmiResponse) -> None:
        super().__init__(f"AMI {action} failed: {response.message or response.response}")
        self.action = action
        self.response = response

    @property
    def shutting_down(self) -> bool:
        """Asterisk refused because it is shutting down (``core stop``, SIGTERM, a
        restart): nothing was done, and the same action may succeed once it is back."""
        return "shutting down" in (self.response.message or "").lower()


@dataclass
class _Pending:
    action: str
    future: asyncio.Future[AmiResponse]
    channel_id: str | None = None
    response: AmiResponse | None = None
    items: list[AmiEvent] = field(default_factory=list)


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    parser: AmiParser
    greeting: asyncio.Future[AmiGreeting]
    lost: asyncio.Future[str]
    pending: dict[str, _Pending] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    logged_in: bool = False

    def drop(self, reason: str) -> None:
        """Mark the connection lost (idempotent), abort the socket, and fail
        every action still waiting for its answer, at once."""
        if not self.lost.done():
            self.lost.set_result(reason)
        self.writer.transport.abort()
        for action_id, pending in list(self.pending.items()):
            if pending.future.done():
                continue
            if pending.channel_id is not None:
                error: AmiConnectionLost = OriginateOutcomeUnknown(
                    f"Originate {pending.channel_id}: connection lost ({reason}) before "
                    "Asterisk answered; the call may exist, reconcile",
                    action_id,
                    pending.channel_id,
                )
            else:
                error = AmiConnectionLost(
                    f"AMI {pending.action}: connection lost ({reason})", pending.action, action_id
                )
            pending.future.set_exception(error)
        self.pending.clear()


def _originate_fields(
    channel: str,
    *,
    channel_id: str,
    other_channel_id: str | None,
    context: str | None,
    exten: str | None,
    priority: int,
    application: str | None,
    data: str | None,
    ring_timeout: float,
    caller_id: str | None,
    variables: Mapping[str, str] | None,
) -> list[tuple[str, str]]:
    """The Originate action's fields, in order; ``ValueError`` names a bad argument.

    See :meth:`AmiClient.originate` for the arguments.
    """
    if not channel_id:
        raise ValueError("originate: channel_id is required (it identifies the call)")
    if (application is None) == (context is None or exten is None):
        raise ValueError("originate: give either context and exten, or application")
    if ring_timeout <= 0:
        raise ValueError(f"originate: ring_timeout must be > 0, got {ring_timeout}")
    fields: list[tuple[str, str]] = [("Channel", channel)]
    if application is not None:
        fields.append(("Application", application))
        if data is not None:
            fields.append(("Data", data))
    else:
        assert context is not None and exten is not None
        fields += [("Context", context), ("Exten", exten), ("Priority", str(priority))]
    fields += [
        ("Timeout", str(int(ring_timeout * 1000))),
        ("Async", "true"),
        ("ChannelId", channel_id),
    ]
    if other_channel_id:
        fields.append(("OtherChannelId", other_channel_id))
    if caller_id:
        fields.append(("CallerID", caller_id))
    for key, value in (variables or {}).items():
        if not key or "=" in key:
            raise ValueError(f"originate: invalid variable name {key!r}")
        fields.append(("Variable", f"{key}={value}"))
    return fields


class AmiClient:
    """One logged-in AMI connection, kept alive until :meth:`close`.

    Use as ``async with AmiClient(...) as ami:`` or call :meth:`connect` and
    :meth:`close`. ``on_raw`` (optional) sees every received chunk of bytes,
    for recording traffic.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        action_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        on_raw: Callable[[bytes], None] | None = None,
    ) -> None:
        if ping_interval <= 0 or ping_timeout <= 0 or action_timeout <= 0:
            raise ValueError("AmiClient: ping_interval, ping_timeout, action_timeout must be > 0")
        if not 0 < backoff_initial <= backoff_max:
            raise ValueError("AmiClient: need 0 < backoff_initial <= backoff_max")
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.action_timeout, self.connect_timeout = action_timeout, connect_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._on_raw = on_raw
        self._event_handlers: list[EventHandler] = []
        self._connection_handlers: list[ConnectionHandler] = []
        self._inbox: asyncio.Queue[AmiEvent | ConnectionChange] = asyncio.Queue()
        self._conn: _Connection | None = None
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ids = f"{uuid.uuid4().hex[:8]}-"
        self._counter = 0
        self.generation = 0

    # -- public API ---------------------------------------------------------

    def add_event_handler(self, handler: EventHandler) -> None:
        """Call ``await handler(event)`` for every event, in arrival order."""
        self._event_handlers.append(handler)

    def add_connection_handler(self, handler: ConnectionHandler) -> None:
        """Call ``await handler(change)`` on every login and every loss."""
        self._connection_handlers.append(handler)

    @property
    def connected(self) -> bool:
        """True while logged in on a live connection."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        """Wait until logged in (again); raises TimeoutError after ``timeout`` s."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def connect(self) -> None:
        """Connect and log in; raises if the FIRST attempt fails.

        Afterwards the client reconnects by itself until :meth:`close`.
        """
        if self._tasks or self._closing.is_set():
            raise AmiError("AmiClient.connect(): already connected, or closed (make a new client)")
        self._tasks.append(asyncio.create_task(self._dispatch(), name="ami-dispatch"))
        try:
            conn = await self._open()
        except BaseException:
            await self.close()
            raise
        self._tasks.append(asyncio.create_task(self._run(conn), name="ami-supervisor"))

    async def close(self) -> None:
        """Log off, stop reconnecting, and stop the tasks. Safe to call twice.

        Events received but not yet handled are dropped.
        """
        self._closing.set()
        conn = self._conn
        if conn is not None and not conn.lost.done():
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                await self._send(conn, "Logoff", (), timeout=0.5)
            conn.drop("closed by the client")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if conn is not None:
            await self._teardown(conn)
        self._conn = None
        self._connected.clear()

    async def __aenter__(self) -> AmiClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send_action(
        self,
        action: str,
        fields: Sequence[tuple[str, str]] = (),
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> AmiResponse:
        """Send ``action`` and wait for its response (and event list, if any).

        Raises :class:`AmiNotConnected` (not sent), :class:`AmiConnectionLost`,
        :class:`AmiTimeout`, or :class:`AmiActionError` on ``Response: Error``
        when ``check`` is true.
        """
        conn = self._live()
        response = await self._send(conn, action, fields, timeout=timeout)
        if check and not response.success:
            raise AmiActionError(action, response)
        return response

    async def ping(self, timeout: float | None = None) -> None:
        """Round-trip a Ping."""
        await self.send_action("Ping", timeout=timeout)

    async def command(self, command: str, timeout: float | None = None) -> list[str]:
        """Run a CLI command (``devstate change ...``); returns its output lines."""
        response = await self.send_action("Command", [("Command", command)], timeout=timeout)
        return list(response.output)

    async def queue_status(self, queue: str | None = None) -> AmiResponse:
        """QueueStatus: the response with QueueParams/QueueMember/QueueEntry items."""
        fields = [("Queue", queue)] if queue else []
        return await self.send_action("QueueStatus", fields)

    async def active_channels(self) -> dict[str, AmiEvent]:
        """Every live channel, keyed by Uniqueid (CoreShowChannels).

        This is how a caller reconciles an :class:`OriginateOutcomeUnknown`:
        a channel whose Uniqueid is the Originate's ``channel_id`` means the
        call was placed and is still up; its absence means it never started
        or already ended (then the ``Hangup`` event, if it was seen, says how).
        """
        response = await self.send_action("CoreShowChannels")
        return {
            event.get("Uniqueid") or "": event
            for event in response.events
            if event.name == "CoreShowChannel"
        }

    async def originate(
        self,
        channel: str,
        *,
        channel_id: str,
        other_channel_id: str | None = None,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        ring_timeout: float = 30.0,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        response_timeout: float | None = None,
    ) -> AmiResponse:
        """Place one call, asynchronously; returns Asterisk's "queued" response.

        ``channel_id`` becomes the new channel's Uniqueid (and
        ``other_channel_id`` the far side's, for Local channels), so every
        later event of this call can be matched to the attempt before the
        first one arrives. While a call with that ChannelId is up, Asterisk
        creates no second channel with it: a second Originate for the same
        attempt is still "queued" but its OriginateResponse fails (Reason 0).

        The result of the call comes later as an ``OriginateResponse`` event
        with the ActionID of the returned response (``Reason`` 4 answered,
        5 busy, 3 no answer within ``ring_timeout``, 8 congestion).

        Never re-sent: if the connection drops or the response does not come
        within ``response_timeout``, :class:`OriginateOutcomeUnknown` is
        raised and the caller must reconcile by ``channel_id`` (see
        :meth:`active_channels`). :class:`AmiActionError` means Asterisk
        refused the action outright: no call was placed.
        """
        fields = _originate_fields(
            channel,
            channel_id=channel_id,
            other_channel_id=other_channel_id,
            context=context,
            exten=exten,
            priority=priority,
            application=application,
            data=data,
            ring_timeout=ring_timeout,
            caller_id=caller_id,
            variables=variables,
        )
        # Checked after the fields: a bad argument is a ValueError even offline.
        conn = self._live()
        response = await self._send(
            conn, "Originate", fields, timeout=response_timeout, channel_id=channel_id
        )
        if not response.success:
            raise AmiActionError("Originate", response)
        return response

    # -- internals ----------------------------------------------------------

    def _live(self) -> _Connection:
        conn = self._conn
        if conn is None or not conn.logged_in or conn.lost.done() or self._closing.is_set():
            raise AmiNotConnected(f"AMI {self.host}:{self.port} is not connected; action not sent")
        return conn

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self._ids}{self._counter}"

    async def _send(
        self,
        conn: _Connection,
        action: str,
        fields: Sequence[tuple[str, str]],
        *,
        timeout: float | None,
        channel_id: str | None = None,
    ) -> AmiResponse:
        action_id = self._next_id()
        payload = encode_action(action, action_id, fields)
        future: asyncio.Future[AmiResponse] = asyncio.get_running_loop().create_future()
        conn.pending[action_id] = _Pending(action, future, channel_id)
        limit = self.action_timeout if timeout is None else timeout
        try:
            conn.writer.write(payload)
            await asyncio.wait_for(conn.writer.drain(), limit)
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except (TimeoutError, OSError) as exc:
            conn.pending.pop(action_id, None)
            what = "no answer in time" if isinstance(exc, TimeoutError) else f"write failed: {exc}"
            if channel_id is not None:
                raise OriginateOutcomeUnknown(
                    f"Originate {channel_id}: {what}; the call may exist, reconcile",
                    action_id,
                    channel_id,
                ) from exc
            if isinstance(exc, TimeoutError):
                raise AmiTimeout(f"AMI {action}: no answer within {limit} s") from exc
            raise AmiConnectionLost(f"AMI {action}: {what}", action, action_id) from exc

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # belt and braces under the Ping watchdog
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        loop = asyncio.get_running_loop()
        conn = _Connection(reader, writer, AmiParser(), loop.create_future(), loop.create_future())
        conn.tasks.append(asyncio.create_task(self._read(conn), name="ami-reader"))
        try:
            # the greeting, or the reason the peer is not AMI (closed, garbage)
            waiters: list[asyncio.Future[Any]] = [conn.greeting, conn.lost]
            await asyncio.wait(
                waiters,
                timeout=self.connect_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not conn.greeting.done():
                reason = conn.lost.result() if conn.lost.done() else "no greeting in time"
                raise AmiError(f"AMI {self.host}:{self.port}: {reason}")
            login = [("Username", self._username), ("Secret", self._secret), ("Events", "on")]
            response = await self._send(conn, "Login", login, timeout=self.connect_timeout)
            if not response.success:
                raise AmiAuthError(f"AMI login as {self._username!r} refused: {response.message}")
        except BaseException:
            conn.drop("login failed")
            await self._teardown(conn)
            raise
        conn.logged_in = True
        conn.tasks.append(asyncio.create_task(self._watchdog(conn), name="ami-watchdog"))
        self.generation += 1
        self._conn = conn
        self._connected.set()
        self._inbox.put_nowait(ConnectionChange(True, self.generation, "logged in"))
        return conn

    async def _teardown(self, conn: _Connection) -> None:
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current:
                task.cancel()
        for task in conn.tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conn.drop("connection closed")  # no-op when already dropped

    async def _run(self, conn: _Connection) -> None:
        """Supervise: wait for the connection to drop, then reconnect with back-off."""
        while True:
            reason = await asyncio.shield(conn.lost)
            self._connected.clear()
            await self._teardown(conn)
            self._conn = None
            if self._closing.is_set():
                return
            log.warning("AMI %s:%s connection lost: %s", self.host, self.port, reason)
            self._inbox.put_nowait(ConnectionChange(False, self.generation, reason))
            attempt = 0
            while True:
                delay = min(self.backoff_max, self.backoff_initial * 2**attempt)
                delay *= 0.5 + random.random() / 2  # jitter: many workers, one Asterisk
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                if self._closing.is_set():
                    return
                try:
                    conn = await self._open()
                    break
                except (OSError, TimeoutError, AmiError) as exc:
                    attempt += 1
                    log.warning("AMI reconnect attempt %d failed: %s", attempt, exc)

    async def _read(self, conn: _Connection) -> None:
        try:
            while True:
                data = await conn.reader.read(65536)
                if not data:
                    conn.drop("closed by Asterisk")
                    return
                if self._on_raw is not None:
                    self._on_raw(data)
                for message in conn.parser.feed(data):
                    self._route(conn, message)
        except (OSError, ValueError) as exc:  # ValueError: AmiProtocolError
            conn.drop(f"read failed: {exc}")

    def _route(self, conn: _Connection, message: AmiMessage) -> None:
        if isinstance(message, AmiGreeting):
            if not conn.greeting.done():
                conn.greeting.set_result(message)
            return
        if isinstance(message, AmiResponse):
            pending = conn.pending.get(message.action_id or "")
            if pending is None:
                log.debug("AMI response for unknown ActionID %s dropped", message.action_id)
            elif message.success and message.is_event_list_start:
                pending.response = message
            else:
                conn.pending.pop(message.action_id or "")
                if not pending.future.done():
                    pending.future.set_result(message)
            return
        pending = conn.pending.get(message.action_id or "")
        if pending is not None and pending.response is not None:
            if (message.get("EventList") or "").lower() == "complete":
                conn.pending.pop(message.action_id or "")
                result = replace(pending.response, events=tuple(pending.items))
                if not pending.future.done():
                    pending.future.set_result(result)
            else:
                pending.items.append(message)
            return
        self._inbox.put_nowait(message)

    async def _watchdog(self, conn: _Connection) -> None:
        while not conn.lost.done():
            await asyncio.sleep(self.ping_interval)
            try:
                await self._send(conn, "Ping", (), timeout=self.ping_timeout)
            except AmiTimeout:
                conn.drop(f"no answer to Ping within {self.ping_timeout} s (half-open socket)")
                return
            except AmiError:
                return

    async def _dispatch(self) -> None:
        while True:
            item = await self._inbox.get()
            if isinstance(item, ConnectionChange):
                for on_change in list(self._connection_handlers):
                    await self._guarded(on_change(item), item)
            else:
                for on_event in list(self._event_handlers):
                    await self._guarded(on_event(item), item)

    @staticmethod
    async def _guarded(call: Awaitable[None], item: object) -> None:
        # One faulty handler must not stop the dialer from seeing later events.
        try:
            await call
        except Exception:
            # Named by its kind and ids only: an event's fields carry the callee's
            # number and name (CallerIDNum, ConnectedLineName), which logs must not.
            log.exception("AMI handler failed on %s", _describe(item))
