"""Typed configuration of the channels layer, built from a plain mapping.

The application reads the environment and hands the mapping here; this module
never touches ``os.environ``. Secrets may come as ``NAME_FILE`` (a path, as
Docker/Kubernetes secrets are mounted); the file reader is injected so that
``from_mapping`` stays a pure function of its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from channels.errors import SettingsError

DEFAULT_SENDGRID_HOST = "https://api.sendgrid.com"
DEFAULT_TWILIO_BASE = "https://api.twilio.com"
DEFAULT_TWILIO_CONCURRENCY = 8
MAX_TWILIO_CONCURRENCY = 100  # Twilio's default API concurrency limit per account


@dataclass(frozen=True)
class SendGridSettings:
    """Credentials and endpoint for SendGrid v3."""

    api_key: str
    api_host: str = DEFAULT_SENDGRID_HOST
    webhook_public_key: str | None = None


@dataclass(frozen=True)
class TwilioSettings:
    """Credentials and endpoint for the Twilio REST API."""

    account_sid: str
    auth_token: str
    api_base: str = DEFAULT_TWILIO_BASE
    # Requests in flight per worker process. Twilio answers in ~0.1-0.3 s, so
    # a worker's texts per second are about concurrency / latency; the
    # account's own concurrency limit caps the sum over all workers.
    concurrency: int = DEFAULT_TWILIO_CONCURRENCY


@dataclass(frozen=True)
class PaymentLinkSettings:
    """Where self-service payment links point and how their tokens are signed."""

    url_pattern: str
    secret: str
    ttl_hours: float = 72.0


@dataclass(frozen=True)
class ChannelSettings:
    """Everything the channels layer needs; a provider left unconfigured is None."""

    sendgrid: SendGridSettings | None
    twilio: TwilioSettings | None
    payment_link: PaymentLinkSettings | None
    http_timeout_s: float = 10.0

    @classmethod
    def from_mapping(
        cls,
        env: Mapping[str, str],
        read_file: Callable[[str], str] | None = None,
    ) -> ChannelSettings:
        """Build settings from ``env`` (e.g. ``os.environ``).

        Names: ``SENDGRID_API_KEY``, ``SENDGRID_API_HOST``,
        ``SENDGRID_WEBHOOK_PUBLIC_KEY``, ``TWILIO_ACCOUNT_SID``,
        ``TWILIO_AUTH_TOKEN``, ``TWILIO_API_BASE``, ``TWILIO_CONCURRENCY``,
        ``PAYMENT_LINK_URL_PATTERN``,
        ``PAYMENT_LINK_SECRET``, ``PAYMENT_LINK_TTL_HOURS``,
        ``CHANNELS_HTTP_TIMEOUT_S``. Any of them may instead be given as
        ``NAME_FILE`` naming a file whose content (trailing newline stripped)
        is the value. A provider is configured when its credentials are set;
        a half-configured provider is an error naming what is missing.
        """
        variables = _Variables(env, read_file or _read_text)
        # Keyword arguments evaluate in order: the first bad group raises first.
        return cls(
            sendgrid=_read_sendgrid(variables),
            twilio=_read_twilio(variables),
            payment_link=_read_payment_link(variables),
            http_timeout_s=_positive(
                variables.get("CHANNELS_HTTP_TIMEOUT_S"), "CHANNELS_HTTP_TIMEOUT_S", 10.0
            ),
        )


class _Variables:
    """The configuration variables of one mapping, each given directly or as ``NAME_FILE``."""

    def __init__(self, env: Mapping[str, str], read_file: Callable[[str], str]) -> None:
        self._env = env
        self._read_file = read_file

    def get(self, name: str) -> str | None:
        """The value of ``name`` or of the file ``NAME_FILE`` names; None when unset or empty."""
        direct = self._env.get(name)
        path = self._env.get(f"{name}_FILE")
        if direct not in (None, "") and path not in (None, ""):
            raise SettingsError(f"both {name} and {name}_FILE are set; set only one")
        if path not in (None, ""):
            assert path is not None
            try:
                return self._read_file(path).rstrip("\r\n")
            except OSError as exc:
                raise SettingsError(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
        return direct if direct not in (None, "") else None

    def credentials(self, required: tuple[str, ...]) -> dict[str, str] | None:
        """All of a provider's ``required`` values, or None when none is set.

        Some set and others not is an error: a half-configured provider would
        otherwise be silently off.
        """
        values = {name: self.get(name) for name in required}
        present = [n for n, v in values.items() if v is not None]
        if not present:
            return None
        missing = [n for n, v in values.items() if v is None]
        if missing:
            raise SettingsError(
                f"{', '.join(present)} set but {', '.join(missing)} missing "
                "(set them, or as NAME_FILE)"
            )
        return {n: v for n, v in values.items() if v is not None}


def _read_sendgrid(variables: _Variables) -> SendGridSettings | None:
    """SendGrid when its API key is set; host and webhook key are optional."""
    credentials = variables.credentials(("SENDGRID_API_KEY",))
    if credentials is None:
        return None
    return SendGridSettings(
        api_key=credentials["SENDGRID_API_KEY"],
        api_host=_url(
            variables.get("SENDGRID_API_HOST") or DEFAULT_SENDGRID_HOST, "SENDGRID_API_HOST"
        ),
        webhook_public_key=variables.get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
    )


def _read_twilio(variables: _Variables) -> TwilioSettings | None:
    """Twilio when its account SID and auth token are set."""
    credentials = variables.credentials(("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"))
    if credentials is None:
        return None
    return TwilioSettings(
        account_sid=credentials["TWILIO_ACCOUNT_SID"],
        auth_token=credentials["TWILIO_AUTH_TOKEN"],
        api_base=_url(variables.get("TWILIO_API_BASE") or DEFAULT_TWILIO_BASE, "TWILIO_API_BASE"),
        concurrency=_count(
            variables.get("TWILIO_CONCURRENCY"),
            "TWILIO_CONCURRENCY",
            DEFAULT_TWILIO_CONCURRENCY,
            MAX_TWILIO_CONCURRENCY,
        ),
    )


def _read_payment_link(variables: _Variables) -> PaymentLinkSettings | None:
    """Payment links when their URL pattern (with ``{token}``) and secret are set."""
    credentials = variables.credentials(("PAYMENT_LINK_URL_PATTERN", "PAYMENT_LINK_SECRET"))
    if credentials is None:
        return None
    pattern = credentials["PAYMENT_LINK_URL_PATTERN"]
    if "{token}" not in pattern:
        raise SettingsError(
            f"PAYMENT_LINK_URL_PATTERN={pattern!r} must contain the placeholder {{token}}"
        )
    return PaymentLinkSettings(
        url_pattern=pattern,
        secret=credentials["PAYMENT_LINK_SECRET"],
        ttl_hours=_positive(
            variables.get("PAYMENT_LINK_TTL_HOURS"), "PAYMENT_LINK_TTL_HOURS", 72.0
        ),
    )


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _url(value: str, name: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={value!r} must be an http:// or https:// URL")
    return value.rstrip("/")


def _parsed(value: str, name: str, kind: type[float] | type[int], what: str) -> float:
    try:
        return kind(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not {what}") from None


def _positive(value: str | None, name: str, default: float) -> float:
    if value is None:
        return default
    number = _parsed(value, name, float, "a number")
    if number <= 0:
        raise SettingsError(f"{name}={value!r} must be positive")
    return number


def _count(value: str | None, name: str, default: int, maximum: int) -> int:
    if value is None:
        return default
    number = int(_parsed(value, name, int, "a whole number"))
    if not 1 <= number <= maximum:
        raise SettingsError(f"{name}={value!r} must be between 1 and {maximum}")
    return number
