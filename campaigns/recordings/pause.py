"""The PCI pause: an agent stops the recording while a card number is read out.

The console asks (``request``: JSON on the Redis list ``<namespace>:recording-requests``);
the call desk, whose AMI user may act on calls, mutes the call's MixMonitor
(AMI ``MixMonitorMute``, both directions: the file keeps its length, the
paused part is silence) and unmutes it when the agent resumes or, if the
agent forgets, after the campaign's ``[recording] pause_max_s``. While the
pause lasts the desk keeps ``<namespace>:recording-paused:<agent>`` (the
instant it ends by itself), which the desktop shows. The console's own AMI
user stays unable to touch a call: muting needs AMI's ``call`` (or
``system``) write class, which would also let it hang up or redirect calls.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Literal

import redis

ACTIONS = ("pause", "resume")
Action = Literal["pause", "resume"]


class PauseError(ValueError):
    """A pause request that cannot be read or carried out; the message says why."""


@dataclass(frozen=True)
class PauseRequest:
    """Agent ``agent`` (console account ``by``) asks to pause or resume their call's recording."""

    agent: str
    action: Action
    by: str
    at: dt.datetime
    attempt_id: int | None = None

    def to_json(self) -> str:
        """The wire form."""
        return json.dumps(
            {"agent": self.agent, "action": self.action, "by": self.by,
             "at": self.at.isoformat(), "attempt_id": self.attempt_id}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str | bytes) -> PauseRequest:
        """Parse the wire form; ``PauseError`` names what is wrong."""
        try:
            doc = json.loads(text)
            action = doc["action"]
            if action not in ACTIONS:
                raise PauseError(f"recording request {action!r}: expected one of {ACTIONS}")
            attempt = doc.get("attempt_id")
            return cls(
                str(doc["agent"]), action, str(doc["by"]), dt.datetime.fromisoformat(doc["at"]),
                None if attempt is None else int(attempt),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PauseError):
                raise
            raise PauseError(f"recording request: {exc}") from None


def requests_key(namespace: str) -> str:
    """The Redis list the console pushes pause requests on and the desk pops."""
    return f"{namespace}:recording-requests"


def paused_key(agent: str, namespace: str) -> str:
    """The Redis key holding when ``agent``'s paused recording resumes by itself."""
    return f"{namespace}:recording-paused:{agent}"


def request(client: redis.Redis, pause: PauseRequest, *, namespace: str) -> None:
    """Queue ``pause`` for the call desk."""
    client.rpush(requests_key(namespace), pause.to_json())


def paused_until(client: redis.Redis, agent: str, *, namespace: str) -> dt.datetime | None:
    """When ``agent``'s paused recording resumes by itself; None when it is not paused."""
    value = client.get(paused_key(agent, namespace))
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return dt.datetime.fromisoformat(text)
