"""Transfers: an agent hands the customer on the line to another queue (a supervisor's).

The console asks (``request_transfer``: a JSON request on the Redis list
``<namespace>:call-requests``); the call desk (``campaigns.calls.service``),
which holds the AMI rights the console does not, carries it out with a
blind transfer: ``BlindTransfer`` of the agent's channel to
``[cadencia-transfer]`` with the target queue as the extension. The customer
waits in that queue; the agent's leg ends (their wrap-up starts).

Attended transfer (the agent consults the supervisor first) is not built:
AMI's ``Atxfer`` works through the bridge's DTMF transfer feature, which
queue calls would have to allow every agent's phone, and on the sandbox it
placed no consulting call even then.

When a member of the target queue answers the customer, the desk publishes
``connect`` to them with the same customer and attempt (the screen pop), and
at the end of that leg appends a ``transfer`` row to the ledger (the second
agent, the talk time, the attempt and agent it came from). The first leg is
the attempt's own outcome. A ``transfer`` row is a leg of a contact already
counted, not a contact: the rules never read it (``NOT_CONTACTS``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Literal

import redis

MODES = ("blind",)
Mode = Literal["blind"]


class TransferError(ValueError):
    """A transfer request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class TransferRequest:
    """Agent ``agent`` asks to hand their current call to Asterisk queue ``queue``."""

    agent: str
    queue: str
    mode: Mode
    at: dt.datetime

    def to_json(self) -> str:
        """The wire form."""
        return json.dumps(
            {"agent": self.agent, "queue": self.queue, "mode": self.mode, "at": self.at.isoformat()}
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TransferRequest:
        """Parse the wire form; ``TransferError`` names what is wrong."""
        try:
            doc = json.loads(text)
            mode = doc["mode"]
            if mode not in MODES:
                raise TransferError(f"transfer mode {mode!r}: expected one of {MODES}")
            return cls(
                str(doc["agent"]), str(doc["queue"]), mode, dt.datetime.fromisoformat(doc["at"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, TransferError):
                raise
            raise TransferError(f"transfer request: {exc}") from None


def requests_key(namespace: str) -> str:
    """The Redis list the console pushes requests on and the desk pops."""
    return f"{namespace}:call-requests"


def request_transfer(
    client: redis.Redis,
    request: TransferRequest,
    *,
    allowed: tuple[str, ...],
    namespace: str,
) -> None:
    """Queue ``request`` for the call desk; ``TransferError`` for a queue not in ``allowed``."""
    if request.queue not in allowed:
        raise TransferError(
            f"transfer to {request.queue!r}: not a transfer target (allowed: {', '.join(allowed)})"
        )
    client.rpush(requests_key(namespace), request.to_json())
