"""Typed, frozen configuration of the message workers, built once at the entry point.

Workers are separate processes started by ``rq worker``: they rebuild these
settings from their own environment the first time a job runs (never at
import time), so a job carries only plain data and no secrets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from campaigns.config import ConfigError, Settings, read_setting
from channels import ChannelSettings, SettingsError

DEFAULT_QUEUE = "messages"


@dataclass(frozen=True)
class Senders:
    """Who a campaign's messages come from: an email address and phone numbers (E.164)."""

    email: str | None = None
    email_name: str | None = None
    sms: str | None = None
    whatsapp: str | None = None
    # Approved WhatsApp template (Twilio Content SID) for outside the 24-hour session.
    whatsapp_template: str | None = None


@dataclass(frozen=True)
class MessagingSettings:
    """Everything a message worker or the webhook receiver needs.

    ``webhook_base_url`` is the public URL of ``cadencia webhooks`` (Twilio
    status callbacks point there, and Twilio signs that exact URL).
    ``opt_out_url`` is the page a US debtor may use to opt out of email
    (12 CFR 1006.6(e)), with ``{customer}`` and ``{channel}`` placeholders.
    ``standin_url`` is set only against the local provider stand-in: it lets a
    retried job ask the provider whether an ambiguous attempt went out.
    """

    database_url: str
    redis_url: str
    channels: ChannelSettings
    senders: Mapping[str, Senders] = field(default_factory=dict)
    webhook_base_url: str | None = None
    opt_out_url: str | None = None
    standin_url: str | None = None
    queue: str = DEFAULT_QUEUE

    def senders_for(self, campaign: str) -> Senders:
        """The campaign's senders, each falling back to the ``default`` entry."""
        base = self.senders.get("default", Senders())
        own = self.senders.get(campaign, Senders())
        return Senders(
            email=own.email or base.email,
            email_name=own.email_name or base.email_name,
            sms=own.sms or base.sms,
            whatsapp=own.whatsapp or base.whatsapp,
            whatsapp_template=own.whatsapp_template or base.whatsapp_template,
        )

    def to_env(self) -> dict[str, str]:
        """The worker-process environment that rebuilds these settings (for ``rq worker``)."""
        env = {
            "CADENCIA_DATABASE_URL": self.database_url,
            "CADENCIA_REDIS_URL": self.redis_url,
            "CADENCIA_MESSAGE_QUEUE": self.queue,
            "CADENCIA_SENDERS": json.dumps(
                {k: {n: v for n, v in vars(s).items() if v} for k, s in self.senders.items()}
            ),
            "CHANNELS_HTTP_TIMEOUT_S": str(self.channels.http_timeout_s),
        }
        sg, tw, pl = self.channels.sendgrid, self.channels.twilio, self.channels.payment_link
        if sg is not None:
            env.update(SENDGRID_API_KEY=sg.api_key, SENDGRID_API_HOST=sg.api_host)
            if sg.webhook_public_key:
                env["SENDGRID_WEBHOOK_PUBLIC_KEY"] = sg.webhook_public_key
        if tw is not None:
            env.update(
                TWILIO_ACCOUNT_SID=tw.account_sid,
                TWILIO_AUTH_TOKEN=tw.auth_token,
                TWILIO_API_BASE=tw.api_base,
                TWILIO_CONCURRENCY=str(tw.concurrency),
            )
        if pl is not None:
            env.update(
                PAYMENT_LINK_URL_PATTERN=pl.url_pattern,
                PAYMENT_LINK_SECRET=pl.secret,
                PAYMENT_LINK_TTL_HOURS=str(pl.ttl_hours),
            )
        for name, value in (
            ("CADENCIA_WEBHOOK_BASE_URL", self.webhook_base_url),
            ("CADENCIA_OPT_OUT_URL", self.opt_out_url),
            ("CADENCIA_PROVIDER_STANDIN_URL", self.standin_url),
        ):
            if value:
                env[name] = value
        return env

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, database_url: str | None = None
    ) -> MessagingSettings:
        """Build from ``env`` (default ``os.environ``); errors name the variable.

        ``CADENCIA_SENDERS`` is JSON: ``{"default": {"email": "cobranza@bank.example",
        "sms": "+15005550006"}, "<campaign>": {...}}``.
        """
        env = os.environ if env is None else env
        base = Settings.from_env(env, database_url=database_url)
        try:
            channels = ChannelSettings.from_mapping(env)
        except SettingsError as exc:
            raise ConfigError(str(exc)) from exc
        raw = read_setting(env, "CADENCIA_SENDERS")
        senders: dict[str, Senders] = {}
        if raw:
            try:
                parsed = json.loads(raw)
                if not isinstance(parsed, dict):
                    raise ValueError("expected a JSON object of campaigns")
                for campaign, spec in parsed.items():
                    unknown = set(spec) - set(Senders.__dataclass_fields__)
                    if unknown:
                        raise ValueError(f"campaign {campaign!r}: unknown keys {sorted(unknown)}")
                    senders[str(campaign)] = Senders(**{k: str(v) for k, v in spec.items()})
            except (ValueError, TypeError, AttributeError) as exc:
                raise ConfigError(f"CADENCIA_SENDERS: {exc}") from None
        opt_out = read_setting(env, "CADENCIA_OPT_OUT_URL")
        if opt_out and not opt_out.startswith(("http://", "https://")):
            raise ConfigError(f"CADENCIA_OPT_OUT_URL={opt_out!r} must be an http(s) URL")
        hook = read_setting(env, "CADENCIA_WEBHOOK_BASE_URL")
        if hook and not hook.startswith(("http://", "https://")):
            raise ConfigError(f"CADENCIA_WEBHOOK_BASE_URL={hook!r} must be an http(s) URL")
        return cls(
            database_url=base.database_url,
            redis_url=base.redis_url,
            channels=channels,
            senders=senders,
            webhook_base_url=hook.rstrip("/") if hook else None,
            opt_out_url=opt_out,
            standin_url=read_setting(env, "CADENCIA_PROVIDER_STANDIN_URL"),
            queue=read_setting(env, "CADENCIA_MESSAGE_QUEUE", DEFAULT_QUEUE) or DEFAULT_QUEUE,
        )
