"""Messages: template rendering, SendGrid and Twilio transports, webhooks.

Pure template rendering (GSM-7/UCS-2 segment counting), one transport per
provider with errors that say whether they are permanent, webhook parsing
and signature checks. No database and no RQ.
May import: third-party libraries only. Never ``campaigns``, ``compliance``,
``optimizer`` or ``dialer``.
"""

from channels.context import AccountView, CustomerView, format_money, template_context
from channels.errors import (
    LinkTokenError,
    SettingsError,
    TemplateError,
    TransportError,
    WebhookRejected,
)
from channels.links import (
    LinkClaims,
    build_link,
    payment_link,
    sign_token,
    verify_payment_token,
    verify_token,
)
from channels.optout import (
    OptInEvent,
    OptOutEvent,
    email_notice,
    is_opt_out,
    reply_intent,
    text_notice,
)
from channels.ratelimit import RateKey, RateLimiter, TokenBucket, acquire_blocking
from channels.report import SendReport
from channels.retry import RetryPolicy, backoff_delay, call_with_retry
from channels.sendgrid_transport import EmailMessage, SendGridTransport
from channels.settings import ChannelSettings, PaymentLinkSettings, SendGridSettings, TwilioSettings
from channels.sms import SmsInfo, encoding_of, sms_info
from channels.templates import RenderedMessage, RenderRequest, TemplateCatalog
from channels.twilio_transport import TextMessage, TwilioTransport, whatsapp_session_open
from channels.webhooks_sendgrid import EmailEvent, EventBatch, SetAside, load_public_key
from channels.webhooks_sendgrid import verified_batch as verified_sendgrid_batch
from channels.webhooks_sendgrid import verified_events as verified_sendgrid_events
from channels.webhooks_twilio import (
    InboundMessage,
    MessageStatusEvent,
    verified_inbound,
    verified_status_callback,
)

__all__ = [
    "AccountView",
    "ChannelSettings",
    "CustomerView",
    "EmailEvent",
    "EmailMessage",
    "EventBatch",
    "InboundMessage",
    "LinkClaims",
    "LinkTokenError",
    "MessageStatusEvent",
    "OptInEvent",
    "OptOutEvent",
    "PaymentLinkSettings",
    "RateKey",
    "RateLimiter",
    "RenderRequest",
    "RenderedMessage",
    "RetryPolicy",
    "SendGridSettings",
    "SendGridTransport",
    "SendReport",
    "SetAside",
    "SettingsError",
    "SmsInfo",
    "TemplateCatalog",
    "TemplateError",
    "TextMessage",
    "TokenBucket",
    "TransportError",
    "TwilioSettings",
    "TwilioTransport",
    "WebhookRejected",
    "acquire_blocking",
    "backoff_delay",
    "build_link",
    "call_with_retry",
    "email_notice",
    "encoding_of",
    "format_money",
    "is_opt_out",
    "load_public_key",
    "payment_link",
    "reply_intent",
    "sign_token",
    "sms_info",
    "template_context",
    "text_notice",
    "verified_inbound",
    "verified_sendgrid_batch",
    "verified_sendgrid_events",
    "verified_status_callback",
    "verify_payment_token",
    "verify_token",
    "whatsapp_session_open",
]
