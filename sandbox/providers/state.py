"""What the provider stand-in remembers, and the failures it has been told to fake."""

from __future__ import annotations

import base64
import random
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class WebhookMix:
    """Fractions of outcomes the stand-in reports back (each drawn independently).

    Email: ``bounced`` of the messages bounce, the rest are delivered; of the
    delivered, ``opened`` open and ``unsubscribed`` unsubscribe. Text: ``failed``
    are undelivered (error 30003), the rest delivered; of the delivered,
    ``replied`` get a reply, of which ``stop`` are an opt-out keyword.
    """

    bounced: float = 0.02
    opened: float = 0.3
    unsubscribed: float = 0.0
    failed: float = 0.02
    replied: float = 0.05
    stop: float = 0.3
    seed: int = 7

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WebhookMix:
        """From JSON-ish data; unknown keys are an error naming them."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(
                f"unknown webhook mix keys {sorted(unknown)}; allowed {sorted(allowed)}"
            )
        values: dict[str, Any] = {k: (int(v) if k == "seed" else float(v)) for k, v in raw.items()}
        mix = cls(**values)
        for name in allowed - {"seed"}:
            value = getattr(mix, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"webhook mix {name}={value} must be within 0..1")
        return mix


@dataclass
class FailRule:
    """Make the next ``count`` requests to ``provider`` answer ``status`` (or be slow)."""

    provider: str
    count: int
    status: int | None = 429
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class StoredEmail:
    """One personalization the SendGrid stand-in accepted, content substituted."""

    x_message_id: str
    sg_message_id: str
    from_email: str
    to_email: str
    subject: str
    text: str | None
    html: str | None
    custom_args: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredText:
    """One message the Twilio stand-in accepted, with the parameters it came with."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str | None
    content_sid: str | None
    content_variables: str | None
    validity_period: str | None
    status_callback: str | None
    params: dict[str, str]


@dataclass
class StandinState:
    """Credentials, stores and knobs; every method is thread-safe."""

    sendgrid_api_key: str = field(default_factory=lambda: "SG.standin." + secrets.token_urlsafe(24))
    twilio_account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    twilio_auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    signing_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    sendgrid_webhook_url: str | None = None
    twilio_status_url: str | None = None
    twilio_inbound_url: str | None = None
    mix: WebhookMix = field(default_factory=WebhookMix)
    webhook_delay_s: float = 0.2
    max_stored: int = 200_000
    # Twilio posts "sent" before the final status; a load test may want only
    # the final one (half the callbacks for the receiver to absorb).
    twilio_sent_callbacks: bool = True

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.emails: deque[StoredEmail] = deque(maxlen=self.max_stored)
        self.texts: deque[StoredText] = deque(maxlen=self.max_stored)
        self.counts: dict[str, int] = {}
        self.failures: list[FailRule] = []
        self.suppressed_emails: set[str] = set()
        self.opted_out: set[tuple[str, str]] = set()  # (our sender, their number)
        self.whatsapp_inbound: dict[str, float] = {}  # their number -> last inbound time
        self.webhook_log: deque[tuple[str, str, int]] = deque(maxlen=100_000)
        self.rng = random.Random(self.mix.seed)

    @property
    def sendgrid_public_key(self) -> str:
        """The verification key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
        der = self.signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def count(self, name: str, n: int = 1) -> None:
        """Bump a counter (requests, accepted messages, rejections…)."""
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def fail_next(
        self,
        provider: str,
        count: int = 1,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Queue a failure: the next ``count`` requests to ``provider`` ("sendgrid",
        "twilio" or "any") answer ``status`` after ``delay_s`` (``status=None``: only slow)."""
        if provider not in ("sendgrid", "twilio", "any"):
            raise ValueError(f"provider {provider!r} is not sendgrid, twilio or any")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        with self.lock:
            self.failures.append(FailRule(provider, count, status, retry_after, delay_s))

    def take_failure(self, provider: str) -> FailRule | None:
        """The failure rule that applies to this request, if any (consumes one use)."""
        with self.lock:
            for rule in self.failures:
                if rule.provider in (provider, "any"):
                    rule.count -= 1
                    if rule.count <= 0:
                        self.failures.remove(rule)
                    return rule
        return None

    def set_mix(self, mix: WebhookMix) -> None:
        """Replace the outcome mix and reseed its random generator."""
        with self.lock:
            self.mix = mix
            self.rng = random.Random(mix.seed)

    def draw(self, probability: float) -> bool:
        """One weighted coin flip from the seeded generator."""
        with self.lock:
            return self.rng.random() < probability

    def sent_emails(self, to_email: str | None = None) -> list[StoredEmail]:
        """Stored emails, optionally only those to ``to_email``."""
        with self.lock:
            items = list(self.emails)
        return [e for e in items if to_email is None or e.to_email == to_email]

    def sent_texts(self, to: str | None = None) -> list[StoredText]:
        """Stored SMS/WhatsApp messages, optionally only those to ``to`` (as sent)."""
        with self.lock:
            items = list(self.texts)
        return [t for t in items if to is None or t.to == to]

    def reset(self) -> None:
        """Forget messages, counters, failures and opt-outs (credentials and keys stay)."""
        with self.lock:
            self.emails.clear()
            self.texts.clear()
            self.counts.clear()
            self.failures.clear()
            self.suppressed_emails.clear()
            self.opted_out.clear()
            self.whatsapp_inbound.clear()
            self.webhook_log.clear()
            self.rng = random.Random(self.mix.seed)
