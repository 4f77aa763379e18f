"""Ready and pause: the agent's queue membership in Asterisk, through AMI ``QueuePause``.

One short AMI connection per click: an agent changes state a few times an
hour, and a fresh login cannot be left half-open by a restarted Asterisk the
way a long-lived one can. ``QueuePause`` without ``Queue`` pauses the member
in every queue it belongs to, which is what an agent on a break means.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from campaigns.config import ConfigError, read_setting
from dialer.ami import AmiClient, AmiError


class PbxUnavailable(RuntimeError):
    """Asterisk could not be told; the message says why (the agent's state is unchanged)."""


@dataclass(frozen=True)
class AmiSettings:
    """Where the console's AMI user logs in. The secret may come from ``*_FILE``."""

    host: str
    port: int
    username: str
    secret: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AmiSettings | None:
        """From ``CADENCIA_AMI_HOST/PORT/USERNAME/SECRET[_FILE]``; None when no host is set."""
        env = os.environ if env is None else env
        host = read_setting(env, "CADENCIA_AMI_HOST")
        if host is None:
            return None
        port = read_setting(env, "CADENCIA_AMI_PORT", "5038") or "5038"
        if not port.isdigit():
            raise ConfigError(f"CADENCIA_AMI_PORT={port!r}: expected a port number")
        username = read_setting(env, "CADENCIA_AMI_USERNAME", "cadencia") or "cadencia"
        secret = read_setting(env, "CADENCIA_AMI_SECRET")
        if secret is None:
            raise ConfigError("CADENCIA_AMI_SECRET (or CADENCIA_AMI_SECRET_FILE) is not set")
        return cls(host, int(port), username, secret)


async def queue_pause(
    settings: AmiSettings, interface: str, *, paused: bool, reason: str | None = None
) -> None:
    """Pause or unpause queue member ``interface`` in all its queues."""
    fields = [("Interface", interface), ("Paused", "true" if paused else "false")]
    if reason:
        fields.append(("Reason", reason))
    client = AmiClient(
        settings.host, settings.port, settings.username, settings.secret, connect_timeout=3.0
    )
    try:
        async with client:
            await client.send_action("QueuePause", fields, timeout=5.0)
    except (AmiError, OSError, TimeoutError) as exc:
        raise PbxUnavailable(f"QueuePause {interface}: {type(exc).__name__}: {exc}") from exc
