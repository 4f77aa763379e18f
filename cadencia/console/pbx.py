"""Ready and pause: the agent's queue membership in Asterisk, through AMI ``QueuePause``.

One short AMI connection per click: an agent changes state a few times an
hour, and a fresh login cannot be left half-open by a restarted Asterisk the
way a long-lived one can. ``QueuePause`` without ``Queue`` pauses the member
in every queue it belongs to, which is what an agent on a break means.
"""

from __future__ import annotations

from campaigns.settings import AmiSettings
from dialer.ami import AmiClient, AmiError


class PbxUnavailable(RuntimeError):
    """Asterisk could not be told; the message says why (the agent's state is unchanged)."""


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
