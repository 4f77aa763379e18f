"""Stripe Checkout through Stripe's official SDK: a hosted page for one payment.

``StripeCheckout.create`` makes a Checkout Session (``POST
/v1/checkout/sessions``) for one ``portal_payments`` row: one line of the
amount in the currency's minor unit as Stripe defines it, our row id in
``client_reference_id`` and ``metadata`` (never the customer's name or
debts), the return URLs back to the portal page. The row id is also the
idempotency key, so the SDK's own retries never make a second session.

A processor error becomes :class:`ProcessorError`, which says whether to
retry: a network failure, a rate limit or Stripe's own 5xx may pass; a
refused key or request will not until someone changes the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import stripe

from campaigns.settings import StripeSettings

# Stripe's minor units (docs.stripe.com/currencies): amounts are integers of
# the smallest unit; these currencies have none below the unit…
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
# …these count thousandths (and Stripe wants the last digit 0)…
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
# …and these stay two-decimal in the API but must be whole units (multiples of 100).
WHOLE_UNITS_ONLY = frozenset({"ISK"})
CHECKOUT_LOCALES = {"es": "es", "en": "en", "pt": "pt-BR"}
TIMEOUT_S = 20.0
NETWORK_RETRIES = 2


class ProcessorError(Exception):
    """The processor did not create the payment; ``retry`` says whether trying again may work."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


@dataclass(frozen=True)
class CheckoutSession:
    """A session the customer can pay at ``url``."""

    id: str
    url: str


def chargeable(amount: Decimal, currency: str) -> Decimal:
    """``amount`` as the processor can charge it: whole units where cents cannot be paid.

    Rounded down, so a customer is never charged more than they chose or owe.
    """
    unit = Decimal(1) if currency in ZERO_DECIMAL | WHOLE_UNITS_ONLY else Decimal("0.01")
    return amount.quantize(unit, ROUND_FLOOR)


def minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in Stripe's minor unit of ``currency`` (COP 460000.10 → 46000010)."""
    if currency in ZERO_DECIMAL:
        scale = Decimal(1)
    elif currency in THREE_DECIMAL:
        scale = Decimal(1000)
    else:
        scale = Decimal(100)
    scaled = amount * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than Stripe takes")
    return int(scaled)


def from_minor_units(value: int, currency: str) -> Decimal:
    """The inverse of :func:`minor_units` (what a webhook's ``amount_total`` means)."""
    if currency in ZERO_DECIMAL:
        return Decimal(value)
    scale = Decimal(1000) if currency in THREE_DECIMAL else Decimal(100)
    return (Decimal(value) / scale).quantize(Decimal("0.01"))


def _classified(exc: stripe.StripeError) -> ProcessorError:
    """Why the processor refused, and whether trying again may work."""
    status = exc.http_status
    retry = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        status is not None and status >= 500
    )
    kind = type(exc).__name__
    where = f"HTTP {status}" if status else "no answer"
    return ProcessorError(f"stripe {kind} ({where}): {exc.user_message or exc}"[:500], retry=retry)


class StripeCheckout:
    """Creates Checkout Sessions with one configured client (nothing connects until used)."""

    name = "stripe"

    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        self._client = stripe.StripeClient(
            settings.api_key,
            base_addresses={"api": settings.api_base},
            max_network_retries=NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_S),
        )

    def return_urls(self, reference: str) -> tuple[str, str]:
        """The success and cancel URLs of the portal page behind ``reference``."""
        return (
            self.settings.success_url.replace("{reference}", reference),
            self.settings.cancel_url.replace("{reference}", reference),
        )

    def create(
        self, *, row_id: int, amount: Decimal, currency: str, label: str, reference: str,
        language: str,
    ) -> CheckoutSession:  # fmt: skip
        """A session for paying ``amount`` ``currency``; raises :class:`ProcessorError`."""
        success, cancel = self.return_urls(reference)
        ours = {"portal_payment": str(row_id)}
        params: dict[str, object] = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": minor_units(amount, currency),
                    "product_data": {"name": label},
                },
            }],
            "success_url": success,
            "cancel_url": cancel,
            "client_reference_id": str(row_id),
            "metadata": ours,
            "payment_intent_data": {"metadata": ours},
            "locale": CHECKOUT_LOCALES.get(language, "auto"),
        }  # fmt: skip
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]  # a literal of SessionCreateParams
                options={"idempotency_key": f"cadencia-portal-payment-{row_id}"},
            )
        except stripe.StripeError as exc:
            raise _classified(exc) from exc
        if not session.id or not session.url:
            raise ProcessorError("stripe answered a session without an id or url", retry=False)
        return CheckoutSession(str(session.id), str(session.url))
