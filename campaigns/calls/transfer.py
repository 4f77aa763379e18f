"""Transfers: an agent hands the customer on the line to another queue (a supervisor's).

The console asks (``request_transfer``: a JSON request on the Redis list
``<namespace>:call-requests``); the call desk (``campaigns.calls.service``),
which holds the AMI rights the console does not, carries it out: a blind
transfer is ``BlindTransfer`` of the agent's channel to
``[cadencia-transfer]`` with the target queue as the extension (the customer
waits in that queue; the agent's leg ends, their wrap-up starts); an
attended one (``attended``) puts the customer on hold and calls the queue
from the agent's phone (AMI ``Atxfer``), until the agent asks ``complete``
(the customer goes to whoever answered) or ``cancel`` (back to the agent).
docs/routing.md says how.

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

# blind and attended transfers; complete and cancel end an attended one's consultation
MODES = ("blind", "attended", "complete", "cancel")
Mode = Literal["blind", "attended", "complete", "cancel"]


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


def consult_key(agent: str, namespace: str) -> str:
    """The Redis key holding the queue ``agent`` consults during an attended transfer."""
    return f"{namespace}:consult:{agent}"


def consulting(client: redis.Redis, agent: str, *, namespace: str) -> str | None:
    """The queue ``agent`` is consulting (an attended transfer under way), or None."""
    value = client.get(consult_key(agent, namespace))
    return value.decode() if isinstance(value, bytes) else value


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
    if request.mode in ("blind", "attended") and request.queue not in allowed:
        raise TransferError(
            f"transfer to {request.queue!r}: not a transfer target (allowed: {', '.join(allowed)})"
        )
    client.rpush(requests_key(namespace), request.to_json())
