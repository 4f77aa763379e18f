"""Supervision: a supervisor listens to, whispers to, or barges into an agent's call.

The console asks (``request_supervision``: a JSON request on the Redis list
``<namespace>:spy-requests``, after recording who asked in the admin log);
the call desk, which holds the AMI rights the console does not, carries it
out: it originates a call to the supervisor's own phone which, once
answered, runs ``ChanSpy`` on the agent's channel of the call in progress
(the channel ``AgentConnect`` named, never a prefix that could match another
agent: ``Local/agent1`` is a prefix of ``Local/agent10``).

ChanSpy options (Asterisk's app_chanspy): ``q`` no beep or name announced
(the debtor must not hear that someone joined), ``E`` the supervisor's call
ends when the spied call does; then ``w`` whisper (the supervisor speaks to
the agent only) or ``B`` barge (speaks to both parties). Listen has neither.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Literal

import redis
from redis import Redis

from campaigns.calls.requests import serve_requests
from dialer.ami.client import AmiClient, AmiError
from dialer.ami.events import AgentComplete, AgentConnect, typed_event
from dialer.ami.protocol import AmiEvent

log = logging.getLogger(__name__)
MODES = ("listen", "whisper", "barge")
Mode = Literal["listen", "whisper", "barge"]
CHANSPY_OPTIONS = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}
ORIGINATE_TIMEOUT_MS = 30_000  # how long the supervisor's phone may ring


class SupervisionError(ValueError):
    """A supervision request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class SupervisionRequest:
    """``supervisor`` asks to ``mode`` on ``agent``'s call from the phone ``phone``."""

    supervisor: str
    phone: str  # the supervisor's phone, a dial string (``PJSIP/sol``)
    agent: str
    mode: Mode
    at: dt.datetime

    def to_json(self) -> str:
        """The wire form."""
        return json.dumps({**self.__dict__, "at": self.at.isoformat()})

    @classmethod
    def from_json(cls, text: str | bytes) -> SupervisionRequest:
        """Parse the wire form; ``SupervisionError`` names what is wrong."""
        try:
            doc = json.loads(text)
            if doc["mode"] not in MODES:
                raise SupervisionError(f"supervision mode {doc['mode']!r}: expected one of {MODES}")
            return cls(
                str(doc["supervisor"]), str(doc["phone"]), str(doc["agent"]), doc["mode"],
                dt.datetime.fromisoformat(doc["at"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SupervisionError):
                raise
            raise SupervisionError(f"supervision request: {exc}") from None


def requests_key(namespace: str) -> str:
    """The Redis list the console pushes supervision requests on and the desk pops."""
    return f"{namespace}:spy-requests"


def request_supervision(
    client: redis.Redis, request: SupervisionRequest, *, namespace: str
) -> None:
    """Queue ``request`` for the call desk."""
    client.rpush(requests_key(namespace), request.to_json())


@dataclass
class SupervisionDesk:
    """Supervision on one Asterisk server: ``on_event`` for AMI, ``serve`` for the requests."""

    client: AmiClient
    redis: Redis
    namespace: str = "cadencia"
    _channels: dict[str, tuple[str, str]] = field(default_factory=dict)  # agent: (call, channel)

    async def on_event(self, raw: AmiEvent) -> None:
        """Follow which channel each agent is talking on (an ``AmiClient`` event handler)."""
        event = typed_event(raw)
        if isinstance(event, AgentConnect) and event.dest_channel:
            self._channels[event.member_name] = (event.uniqueid, event.dest_channel)
        elif isinstance(event, AgentComplete):
            found = self._channels.get(event.member_name)
            if found is not None and found[0] == event.uniqueid:
                del self._channels[event.member_name]

    async def serve(self, stop: asyncio.Event) -> None:
        """Carry out the console's requests until ``stop`` is set."""

        async def handle(raw: bytes | str) -> None:
            await self.supervise(SupervisionRequest.from_json(raw))

        await serve_requests(self.redis, requests_key(self.namespace), stop, handle,
                             refused=(SupervisionError, AmiError), what="supervision")  # fmt: skip

    async def supervise(self, request: SupervisionRequest) -> None:
        """Ring the supervisor's phone into ChanSpy on the agent's call."""
        found = self._channels.get(request.agent)
        if found is None:
            raise SupervisionError(f"{request.agent} is not on a call")
        channel = found[1]
        await self.client.send_action(
            "Originate",
            [
                ("Channel", request.phone),
                ("Application", "ChanSpy"),
                ("Data", f"{channel},{CHANSPY_OPTIONS[request.mode]}"),
                ("CallerID", f"Cadencia {request.mode} <{request.agent}>"),
                ("Timeout", str(ORIGINATE_TIMEOUT_MS)),
                ("Async", "true"),
            ],
        )
        log.info("%s %ss on %s's call", request.supervisor, request.mode, request.agent)
