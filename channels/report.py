"""What a transport reports back for a batch of messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.errors import TransportError


@dataclass
class SendReport:
    """Outcome per message of ours.

    ``accepted`` maps our message id to the provider's id (SendGrid: the
    request's ``X-Message-Id``, shared by every message of that request;
    Twilio: the message ``sid``). ``failed`` maps our id to the error, whose
    ``permanent`` flag tells the caller whether to retry later.
    """

    accepted: dict[str, str] = field(default_factory=dict)
    failed: dict[str, TransportError] = field(default_factory=dict)
    requests: int = 0

    def merge(self, other: SendReport) -> None:
        """Fold another report into this one."""
        self.accepted.update(other.accepted)
        self.failed.update(other.failed)
        self.requests += other.requests
