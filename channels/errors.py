"""Errors raised by the channels layer, each saying what failed and where."""

from __future__ import annotations


class TemplateError(Exception):
    """A template is missing, malformed, or uses a variable the context lacks.

    ``template`` names the template file (``campaign/language/name``) and
    ``variable`` the undefined name when that is the cause.
    """

    def __init__(self, message: str, *, template: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.variable = variable


class TransportError(Exception):
    """A provider refused or could not take a message.

    ``permanent`` is True when retrying can never succeed (bad number,
    unsubscribed address, rejected payload, bad credentials); False for
    429, 5xx, timeouts and connection failures. ``retry_after`` carries the
    provider's ``Retry-After`` in seconds when it sent one. ``ambiguous`` is
    True when the request may have reached the provider (a read timeout),
    so a blind retry could send twice. ``fields`` lists the request fields
    the provider blamed (SendGrid's ``errors[].field``).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        permanent: bool,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.fields = fields
        self.provider = provider
        self.permanent = permanent
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        return (
            f"TransportError({self.args[0]!r}, provider={self.provider!r}, "
            f"permanent={self.permanent}, status={self.status}, code={self.code!r})"
        )


class WebhookRejected(Exception):
    """A webhook request failed verification or could not be parsed.

    Raised before anything is interpreted, so a rejected request changes
    nothing. ``reason`` is a short machine-friendly tag (``missing-signature``,
    ``bad-signature``, ``expired``, ``malformed``).
    """

    def __init__(self, message: str, *, provider: str, reason: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.reason = reason


class LinkTokenError(Exception):
    """A payment-link token is malformed, forged or expired."""


class SettingsError(Exception):
    """The channels configuration is incomplete or contradictory."""
