"""Every setting Cadencia reads, in one typed place, loaded once at each entry point.

``Settings.load()`` is the only reader of the process environment in the
product: an entry point (the CLI's root callback, an RQ job function, the
console) calls it once and passes the result, or the view of it a feature
needs (``messaging()``, ``dialer()``, ``ami()``, ``clock()``), down. Every
variable may instead be given as ``NAME_FILE``, the path of a file holding
the value (Docker and Kubernetes mount secrets that way); setting both is an
error. A bad value is a ``ConfigError`` that names the variable.

The variables, with their defaults, are the aliases of ``Settings``' fields.
The SendGrid, Twilio and payment-link variables are listed here and parsed
by ``channels.ChannelSettings.from_mapping``, the channels package's own
contract for its configuration.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from campaigns.agents.events import NAMESPACE as AGENT_EVENTS_NAMESPACE
from campaigns.clock import Clock
from channels import ChannelSettings, SettingsError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from campaigns.ledger.checkpoint_store import CheckpointStore
    from campaigns.ledger.signing import Signer

DEFAULT_DATABASE_URL = "sqlite:///cadencia.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MESSAGE_QUEUE = "messages"
DEFAULT_DIAL_QUEUE = "dialer"
DEFAULT_AMI_PORT = 5038
DEFAULT_DIAL_CHANNEL = "PJSIP/{e164}@carrier"
DEFAULT_AGENT_NAMESPACE = AGENT_EVENTS_NAMESPACE
DEFAULT_CHECKPOINT_DIR = "ledger-checkpoints"
DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"
# The channels package's variables, handed to ChannelSettings.from_mapping as given.
CHANNEL_VARIABLES = (
    "SENDGRID_API_KEY",
    "SENDGRID_API_HOST",
    "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE",
    "TWILIO_CONCURRENCY",
    "PAYMENT_LINK_URL_PATTERN",
    "PAYMENT_LINK_SECRET",
    "PAYMENT_LINK_TTL_HOURS",
    "CHANNELS_HTTP_TIMEOUT_S",
)


# A variable whose name holds one of these is never echoed in an error (a
# database URL may carry its password).
SECRET_WORDS = ("SECRET", "PASSWORD", "KEY", "TOKEN", "DATABASE_URL", "REDIS_URL")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names it."""


def normalise_database_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` onto the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not (url.startswith("sqlite") or url.startswith("postgresql+")):
        scheme = url.split(":", 1)[0]
        raise ValueError(f"scheme {scheme!r}: expected sqlite:///FILE or postgresql://USER@HOST/DB")
    return url


def with_redis_password(url: str, password: str) -> str:
    """``url`` (``redis://USER@HOST:PORT/DB``) with ``password`` as its user's password.

    The password may hold any character (it is percent-encoded); a password
    already in the URL is replaced. Without a user the URL names none
    (``redis://:PASSWORD@…``, Redis's ``default`` user).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"scheme {parts.scheme!r}: expected redis:// or rediss://")
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def shown_redis_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def read_variable(env: Mapping[str, str], name: str) -> str | None:
    """``env[name]``, or the content of the file ``env[name + '_FILE']`` names; None if unset.

    An empty value counts as unset. A file's trailing line end is dropped.
    """
    direct = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if direct is not None and path is not None:
        raise ConfigError(f"both {name} and {name}_FILE are set; set only one")
    if path is None:
        return direct
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path}: cannot read: {exc.strerror}") from None


class _Environment(PydanticBaseSettingsSource):
    """A settings source over an environment mapping, honouring ``NAME_FILE`` for every name."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The raw value of ``field`` (by its variable name), None when unset."""
        name = str(field.validation_alias)
        return read_variable(self.env, name), name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, alias, _ = self.get_field_value(info, name)
            if value is not None:
                values[alias] = value
        return values


def _variable(default: Any, name: str, description: str) -> Any:
    return Field(default, validation_alias=name, description=description)


class Settings(BaseSettings):
    """Everything Cadencia's processes need to know about their environment."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    database_url: str = _variable(
        DEFAULT_DATABASE_URL, "CADENCIA_DATABASE_URL", "sqlite:///FILE or postgresql://…"
    )
    # Before redis_url, whose validator puts it into the URL.
    redis_password: str | None = _variable(
        None,
        "CADENCIA_REDIS_PASSWORD",
        "the password of the Redis user named in CADENCIA_REDIS_URL; give it as _FILE",
    )
    redis_url: str = _variable(DEFAULT_REDIS_URL, "CADENCIA_REDIS_URL", "RQ and agent events")
    log_format: str = _variable("text", "CADENCIA_LOG_FORMAT", "text, or json for log shipping")
    sim_clock: str | None = _variable(
        None, "CADENCIA_SIM_CLOCK", "a compressed day's clock (campaigns.clock); unset: wall"
    )
    message_queue: str = _variable(DEFAULT_MESSAGE_QUEUE, "CADENCIA_MESSAGE_QUEUE", "RQ queue")
    senders: str | None = _variable(
        None, "CADENCIA_SENDERS", 'JSON: {"default": {"email": …, "sms": …}, "<campaign>": {…}}'
    )
    opt_out_url: str | None = _variable(
        None, "CADENCIA_OPT_OUT_URL", "email opt-out page, {customer} and {channel} placeholders"
    )
    webhook_base_url: str | None = _variable(
        None, "CADENCIA_WEBHOOK_BASE_URL", "public URL of `cadencia webhooks`"
    )
    provider_standin_url: str | None = _variable(
        None, "CADENCIA_PROVIDER_STANDIN_URL", "the local provider stand-in (sandbox only)"
    )
    channel_variables: dict[str, str] = Field(default_factory=dict, exclude=True)
    ami_host: str | None = _variable(None, "CADENCIA_AMI_HOST", "Asterisk AMI; unset: no PBX")
    ami_port: int = _variable(DEFAULT_AMI_PORT, "CADENCIA_AMI_PORT", "AMI port")
    ami_username: str = _variable("cadencia", "CADENCIA_AMI_USERNAME", "AMI user")
    ami_secret: str | None = _variable(None, "CADENCIA_AMI_SECRET", "AMI password")
    console_ami_username: str = _variable(
        "cadencia-console", "CADENCIA_CONSOLE_AMI_USERNAME", "the console's AMI user (QueuePause)"
    )
    console_ami_secret: str | None = _variable(
        None, "CADENCIA_CONSOLE_AMI_SECRET", "the console's AMI password"
    )
    softphone_wss_url: str | None = _variable(
        None,
        "CADENCIA_SOFTPHONE_WSS_URL",
        "the agents' softphones register at this wss:// URL (Asterisk's /ws); unset: no softphone",
    )
    softphone_key: str | None = _variable(
        None, "CADENCIA_SOFTPHONE_KEY", "derives each agent's SIP password (HMAC); a secret"
    )
    softphone_realm: str = _variable(
        "cadencia", "CADENCIA_SOFTPHONE_REALM", "the SIP digest realm of the agents' endpoints"
    )
    softphone_queues: str = _variable(
        "", "CADENCIA_SOFTPHONE_QUEUES", "comma-separated queues a softphone agent joins (QueueAdd)"
    )
    softphone_auto_answer: bool = _variable(
        False, "CADENCIA_SOFTPHONE_AUTO_ANSWER", "softphones answer a queue call without a click"
    )
    softphone_config: str | None = _variable(
        None,
        "CADENCIA_SOFTPHONE_CONFIG",
        "the agents' endpoints file `cadencia softphone provision` writes (softphones/agents.conf)",
    )
    provision_ami_username: str = _variable(
        "cadencia-provision", "CADENCIA_PROVISION_AMI_USERNAME", "the provisioner's AMI user"
    )
    provision_ami_secret: str | None = _variable(
        None, "CADENCIA_PROVISION_AMI_SECRET", "the provisioner's AMI password (Reload)"
    )
    dial_channel: str = _variable(
        DEFAULT_DIAL_CHANNEL, "CADENCIA_DIAL_CHANNEL", "Originate channel, {e164} placeholder"
    )
    dial_queue: str | None = _variable(
        None, "CADENCIA_DIAL_QUEUE", "Asterisk queue for every campaign (the sandbox's)"
    )
    dial_variables: str | None = _variable(
        None, "CADENCIA_DIAL_VARIABLES", "JSON object of channel variables added to every call"
    )
    dial_queue_wait_s: int | None = _variable(
        None, "CADENCIA_DIAL_QUEUE_WAIT", "seconds an answered call waits in the queue"
    )
    dialer_queue: str = _variable(DEFAULT_DIAL_QUEUE, "CADENCIA_DIALER_QUEUE", "RQ queue")
    inbound_queue: str = _variable(
        "cadencia-inbound", "CADENCIA_INBOUND_QUEUE", "Asterisk queue of the company number"
    )
    inbound_region: str = _variable(
        "CO", "CADENCIA_INBOUND_REGION", "country whose national format caller IDs arrive in"
    )
    transfer_queues: str = _variable(
        "cadencia-supervisors",
        "CADENCIA_TRANSFER_QUEUES",
        "comma-separated Asterisk queues an agent may transfer a call to",
    )
    call_prefix: str = _variable("cadencia", "CADENCIA_CALL_PREFIX", "ActionID/call id prefix")
    agent_namespace: str = _variable(
        DEFAULT_AGENT_NAMESPACE,
        "CADENCIA_AGENT_NAMESPACE",
        "Redis prefix of agent events and states, shared by the dial jobs and the console",
    )
    web_idle_minutes: int = _variable(
        30, "CADENCIA_WEB_IDLE_MINUTES", "minutes without a request that end a console session"
    )
    web_password: str | None = _variable(
        None, "CADENCIA_WEB_PASSWORD", "a new console account's password (`users add`)"
    )
    campaign_dir: str | None = _variable(
        None, "CADENCIA_CAMPAIGN_DIR", "the campaign files (*.toml) the console lists"
    )
    web_upload_max_mib: int = _variable(
        200, "CADENCIA_WEB_UPLOAD_MAX_MIB", "largest portfolio or payments file the console takes"
    )
    payments_keys: str | None = _variable(
        None,
        "CADENCIA_PAYMENTS_KEYS",
        'JSON {"<key id>": "<secret>"}: who may sign POST /webhooks/payments',
    )
    checkpoint_key: str | None = _variable(
        None,
        "CADENCIA_CHECKPOINT_KEY",
        "Ed25519 private key (PEM) that signs ledger checkpoints; give it as _FILE, "
        "readable only by the checkpoint job",
    )
    checkpoint_public_key: str | None = _variable(
        None,
        "CADENCIA_CHECKPOINT_PUBLIC_KEY",
        "the checkpoints' Ed25519 public key(s): base64 or PEM, several after a rotation",
    )
    checkpoint_dir: str = _variable(
        DEFAULT_CHECKPOINT_DIR, "CADENCIA_CHECKPOINT_DIR", "where signed ledger checkpoints go"
    )
    portal_secret: str | None = _variable(
        None,
        "CADENCIA_PORTAL_SECRET",
        "signs the debtor portal's session cookies; unset: each `cadencia portal` draws its own",
    )
    stripe_api_key: str | None = _variable(
        None,
        "CADENCIA_STRIPE_API_KEY",
        "Stripe secret key the portal creates Checkout Sessions with; unset: no Pay button",
    )
    stripe_api_base: str = _variable(
        DEFAULT_STRIPE_API_BASE, "CADENCIA_STRIPE_API_BASE", "Stripe's API (the stand-in's URL)"
    )
    stripe_webhook_secret: str | None = _variable(
        None,
        "CADENCIA_STRIPE_WEBHOOK_SECRET",
        "the signing secret (whsec_…) of POST /webhooks/stripe; unset: its events are refused",
    )
    stripe_success_url: str | None = _variable(
        None,
        "CADENCIA_STRIPE_SUCCESS_URL",
        "where Checkout returns after paying, {reference} placeholder; unset: the link's URL",
    )
    stripe_cancel_url: str | None = _variable(
        None,
        "CADENCIA_STRIPE_CANCEL_URL",
        "where Checkout returns when the customer goes back, {reference} placeholder",
    )

    recording_spool: str = _variable(
        "/var/spool/asterisk/monitor",
        "CADENCIA_RECORDING_SPOOL",
        "where Asterisk's MixMonitor writes call recordings, as the call desk sees it",
    )
    recording_dir: str = _variable(
        "recordings", "CADENCIA_RECORDING_DIR", "the recording store: kept recordings by attempt"
    )
    recording_retention_days: int = _variable(
        365,
        "CADENCIA_RECORDING_RETENTION_DAYS",
        "days a recording without a campaign (an inbound call) is kept",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what ``load`` hands over: the environment is read there, with ``NAME_FILE``."""
        return (init_settings,)

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, *, database_url: str | None = None
    ) -> Settings:
        """Settings from ``env`` (default: this process's environment); ``database_url`` wins.

        Raises ``ConfigError`` naming the first bad variable.
        """
        env = os.environ if env is None else env
        values = _Environment(cls, env)()
        values["channel_variables"] = {
            name: value for name in CHANNEL_VARIABLES if (value := read_variable(env, name))
        }
        if database_url:
            values["CADENCIA_DATABASE_URL"] = database_url
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, values)) from None

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str, info: ValidationInfo) -> str:
        password = info.data.get("redis_password")
        return with_redis_password(value, password) if password else value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("expected text or json")
        return value.lower()

    @field_validator("opt_out_url", "webhook_base_url", "stripe_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("agent_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        # It is a Redis key prefix and channel name: no separators or wildcards in it.
        if not value or any(c in value for c in ":*?[] \t\n"):
            raise ValueError("expected a non-empty name without ':', spaces or wildcards")
        return value

    @field_validator("sim_clock")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        Clock.parse(value)
        return value

    @field_validator("senders")
    @classmethod
    def _senders(cls, value: str | None) -> str | None:
        _parse_senders(value)
        return value

    @field_validator("dial_variables")
    @classmethod
    def _dial_variables(cls, value: str | None) -> str | None:
        _parse_object(value, "a JSON object")
        return value

    @field_validator("payments_keys")
    @classmethod
    def _payments_keys(cls, value: str | None) -> str | None:
        _payment_keys(value)
        return value

    @field_validator("checkpoint_key")
    @classmethod
    def _checkpoint_key(cls, value: str | None) -> str | None:
        from campaigns.ledger.signing import SigningKeyError, load_private

        if value:
            try:
                load_private(value, "the key")
            except SigningKeyError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("checkpoint_public_key")
    @classmethod
    def _checkpoint_public_key(cls, value: str | None) -> str | None:
        from campaigns.ledger.signing import SigningKeyError, load_publics

        if value:
            try:
                load_publics(value, "the value")
            except SigningKeyError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("channel_variables")
    @classmethod
    def _channels(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            ChannelSettings.from_mapping(value)
        except SettingsError as exc:
            raise ValueError(str(exc)) from None
        return value

    def clock(self) -> Clock:
        """The clock of this process: compressed when ``CADENCIA_SIM_CLOCK`` says so."""
        return Clock.parse(self.sim_clock)

    def channels(self) -> ChannelSettings:
        """The SendGrid, Twilio and payment-link configuration."""
        return ChannelSettings.from_mapping(self.channel_variables)

    def messaging(self) -> MessagingSettings:
        """What a message worker or the webhook receiver needs."""
        return MessagingSettings(
            database_url=self.database_url,
            redis_url=self.redis_url,
            channels=self.channels(),
            senders=_parse_senders(self.senders),
            webhook_base_url=self.webhook_base_url,
            opt_out_url=self.opt_out_url,
            standin_url=self.provider_standin_url,
            queue=self.message_queue,
            payment_keys=_payment_keys(self.payments_keys),
            stripe_webhook_secret=self.stripe_webhook_secret,
        )

    def stripe(self) -> StripeSettings | None:
        """The portal's payments through Stripe Checkout; None without an API key (no Pay).

        The return URLs default to the message link's (``PAYMENT_LINK_URL_PATTERN``)
        with the portal's reference in it; without either, ``ConfigError``.
        """
        if not self.stripe_api_key:
            return None
        pattern = self.channel_variables.get("PAYMENT_LINK_URL_PATTERN", "")
        link = pattern.replace("{token}", "{reference}") if "{token}" in pattern else None
        success = self.stripe_success_url or (link and f"{link}?payment={{CHECKOUT_SESSION_ID}}")
        cancel = self.stripe_cancel_url or (link and f"{link}?payment=cancelled")
        for name, url in (("CADENCIA_STRIPE_SUCCESS_URL", success),
                          ("CADENCIA_STRIPE_CANCEL_URL", cancel)):  # fmt: skip
            if not url or "{reference}" not in url or not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{name}: an http(s) URL with {{reference}} is required with "
                    "CADENCIA_STRIPE_API_KEY (or set PAYMENT_LINK_URL_PATTERN, whose {token} "
                    "URL is the portal page)"
                )
        return StripeSettings(
            api_key=self.stripe_api_key,
            api_base=self.stripe_api_base,
            success_url=str(success),
            cancel_url=str(cancel),
        )

    def ami(self) -> AmiSettings | None:
        """Where to log in to Asterisk's AMI; None when no PBX is configured (no host)."""
        if self.ami_host is None:
            return None
        if self.ami_secret is None:
            raise ConfigError("CADENCIA_AMI_SECRET (or CADENCIA_AMI_SECRET_FILE) is not set")
        return AmiSettings(self.ami_host, self.ami_port, self.ami_username, self.ami_secret)

    def console_ami(self) -> AmiSettings | None:
        """The console's own AMI user on the same Asterisk; None when no PBX is configured.

        Least privilege: manager.conf's ``cadencia-console`` template may only
        pause and unpause agents, so a compromised console cannot place,
        redirect or hang up a call, nor run the PBX's CLI.
        """
        if self.ami_host is None:
            return None
        if self.console_ami_secret is None:
            raise ConfigError(
                "CADENCIA_CONSOLE_AMI_SECRET (or CADENCIA_CONSOLE_AMI_SECRET_FILE) is not set: "
                "the console logs in to Asterisk as its own AMI user, which may only pause "
                "agents (docker/asterisk/manager.conf, cadencia-console)"
            )
        return AmiSettings(
            self.ami_host, self.ami_port, self.console_ami_username, self.console_ami_secret
        )

    def softphone(self) -> SoftphoneSettings | None:
        """The agents' WebRTC softphone; None when CADENCIA_SOFTPHONE_WSS_URL is unset."""
        url = self.softphone_wss_url
        if url is None:
            return None
        if not url.startswith("wss://"):
            raise ConfigError(f"CADENCIA_SOFTPHONE_WSS_URL={url!r}: expected a wss:// URL")
        if not self.softphone_key or len(self.softphone_key) < 32:
            raise ConfigError(
                "CADENCIA_SOFTPHONE_KEY (or CADENCIA_SOFTPHONE_KEY_FILE) is not set or shorter "
                "than 32 characters: it derives every agent's SIP password (docs/softphone.md)"
            )
        queues = tuple(q.strip() for q in self.softphone_queues.split(",") if q.strip())
        return SoftphoneSettings(
            url, self.softphone_key, self.softphone_realm, queues, self.softphone_auto_answer
        )

    def provision_ami(self) -> AmiSettings:
        """The provisioner's AMI user (it may only reload modules); ConfigError when unset."""
        if self.ami_host is None or self.provision_ami_secret is None:
            raise ConfigError(
                "CADENCIA_AMI_HOST and CADENCIA_PROVISION_AMI_SECRET must be set: the "
                "provisioner reloads res_pjsip as its own AMI user "
                "(docker/asterisk/manager.conf, cadencia-provision)"
            )
        return AmiSettings(
            self.ami_host, self.ami_port, self.provision_ami_username, self.provision_ami_secret
        )

    def dialer(self) -> DialerSettings:
        """What a dial-session worker needs; the PBX must be configured."""
        ami = self.ami()
        if ami is None:
            raise ConfigError("CADENCIA_AMI_HOST is not set: the dialer needs Asterisk's AMI")
        return DialerSettings(
            database_url=self.database_url,
            redis_url=self.redis_url,
            ami_host=ami.host,
            ami_port=ami.port,
            ami_username=ami.username,
            ami_secret=ami.secret,
            channel_template=self.dial_channel,
            dial_queue=self.dial_queue,
            dial_variables=_parse_object(self.dial_variables, "a JSON object"),
            queue_wait_s=self.dial_queue_wait_s,
            rq_queue=self.dialer_queue,
            call_prefix=self.call_prefix,
            agent_namespace=self.agent_namespace,
        )

    def desk(self) -> DeskSettings:
        """What the call desk needs: the dialer's PBX and stores, inbound queue and region."""
        return DeskSettings(
            self.dialer(), self.inbound_queue, self.inbound_region.upper(), self.recordings()
        )

    def recordings(self) -> RecordingSettings:
        """Where Asterisk writes recordings, where they are kept, the default retention."""
        return RecordingSettings(
            Path(self.recording_spool), Path(self.recording_dir), self.recording_retention_days
        )

    def transfer_targets(self) -> tuple[str, ...]:
        """The queues an agent may transfer a call to."""
        return tuple(q.strip() for q in self.transfer_queues.split(",") if q.strip())

    def checkpoint_signer(self) -> Signer:
        """The key that signs ledger checkpoints; ``ConfigError`` when it is not set."""
        from campaigns.ledger.signing import load_private

        if not self.checkpoint_key:
            raise ConfigError(
                "CADENCIA_CHECKPOINT_KEY_FILE (or CADENCIA_CHECKPOINT_KEY) is not set: "
                "the checkpoint job needs the signing key (`cadencia ledger keygen` makes one)"
            )
        return load_private(self.checkpoint_key, "CADENCIA_CHECKPOINT_KEY")

    def checkpoint_publics(self) -> dict[str, Ed25519PublicKey]:
        """The checkpoints' public keys by key id (empty when none is configured)."""
        from campaigns.ledger.signing import load_publics

        if not self.checkpoint_public_key:
            return {}
        return load_publics(self.checkpoint_public_key, "CADENCIA_CHECKPOINT_PUBLIC_KEY")

    def checkpoint_store(self) -> CheckpointStore:
        """Where checkpoints are kept: the directory ``CADENCIA_CHECKPOINT_DIR``."""
        from campaigns.ledger.checkpoint_store import DirectoryStore

        return DirectoryStore(Path(self.checkpoint_dir))

    def to_env(self) -> dict[str, str]:
        """The environment that rebuilds these settings in a child process."""
        env = dict(self.channel_variables)
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if info.validation_alias is not None and value is not None:
                env[str(info.validation_alias)] = str(value)
        return env

    def export(self) -> None:
        """Put these settings in this process's environment, for the workers it forks.

        A value read from ``NAME_FILE`` is exported as ``NAME``, and ``NAME_FILE``
        leaves the environment: a child seeing both would refuse to start.
        """
        env = self.to_env()
        for name in env:
            os.environ.pop(f"{name}_FILE", None)
        os.environ.update(env)


def _explain(exc: ValidationError, values: Mapping[str, Any]) -> str:
    """The first error as ``NAME=value: what is wrong`` (secrets are not echoed)."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    if name == "channel_variables":
        return message
    shown = values.get(name)
    if shown is None or any(word in name for word in SECRET_WORDS):
        return f"{name}: {message}"
    return f"{name}={shown!r}: {message}"


@dataclass(frozen=True)
class Senders:
    """Who a campaign's messages come from: an email address and phone numbers (E.164)."""

    email: str | None = None
    email_name: str | None = None
    sms: str | None = None
    whatsapp: str | None = None
    # Approved WhatsApp template (Twilio Content SID) for outside the 24-hour session.
    whatsapp_template: str | None = None


def _parse_object(raw: str | None, what: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"expected {what}")
    return {str(k): v for k, v in parsed.items()}


def _payment_keys(raw: str | None) -> dict[str, str]:
    keys = _parse_object(raw, 'a JSON object {"<key id>": "<secret>"}')
    for key_id, secret in keys.items():
        if not isinstance(secret, str) or len(secret) < 16:
            # A short HMAC key can be guessed offline from one signed request.
            raise ValueError(f"key {key_id!r}: the secret must be a string of 16+ characters")
    return keys


def _parse_senders(raw: str | None) -> dict[str, Senders]:
    senders: dict[str, Senders] = {}
    for campaign, spec in _parse_object(raw, "a JSON object of campaigns").items():
        if not isinstance(spec, dict):
            raise ValueError(f"campaign {campaign!r}: expected an object")
        unknown = set(spec) - set(Senders.__dataclass_fields__)
        if unknown:
            raise ValueError(f"campaign {campaign!r}: unknown keys {sorted(unknown)}")
        senders[campaign] = Senders(**{k: str(v) for k, v in spec.items()})
    return senders


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
    queue: str = DEFAULT_MESSAGE_QUEUE
    # Key id → secret of the systems that may post payments (campaigns.payments.signature).
    payment_keys: Mapping[str, str] = field(default_factory=dict)
    # Verifies POST /webhooks/stripe (the portal's payments); None refuses its events.
    stripe_webhook_secret: str | None = None

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
        if self.payment_keys:
            env["CADENCIA_PAYMENTS_KEYS"] = json.dumps(dict(self.payment_keys))
        if self.stripe_webhook_secret:
            env["CADENCIA_STRIPE_WEBHOOK_SECRET"] = self.stripe_webhook_secret
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
        """``Settings.load(env, database_url=…).messaging()``."""
        return Settings.load(env, database_url=database_url).messaging()


@dataclass(frozen=True)
class StripeSettings:
    """What the portal needs to take payments through Stripe Checkout (docs/portal.md).

    ``success_url`` and ``cancel_url`` hold ``{reference}`` (the portal link's
    reference); Stripe itself fills ``{CHECKOUT_SESSION_ID}`` in the first.
    """

    api_key: str
    api_base: str = DEFAULT_STRIPE_API_BASE
    success_url: str = ""
    cancel_url: str = ""

    def __repr__(self) -> str:
        # The key is a secret: never in a log line or a traceback's locals.
        return f"StripeSettings(api_base={self.api_base!r}, key=***)"


@dataclass(frozen=True)
class AmiSettings:
    """Where an AMI user logs in."""

    host: str
    port: int
    username: str
    secret: str


@dataclass(frozen=True)
class SoftphoneSettings:
    """The agents' WebRTC softphone: where browsers register, the key their SIP
    passwords derive from, the digest realm, the queues a softphone joins."""

    wss_url: str
    key: str
    realm: str = "cadencia"
    queues: tuple[str, ...] = ()
    auto_answer: bool = False

    def __repr__(self) -> str:
        # The key is a secret: never in a log line or a traceback's locals.
        return f"SoftphoneSettings(wss_url={self.wss_url!r}, queues={self.queues!r}, key=***)"


@dataclass(frozen=True)
class DialerSettings:
    """What a dialer worker needs.

    ``dial_queue`` overrides the campaign's Asterisk queue (the sandbox's is
    ``cadencia-test``); ``dial_variables`` are channel variables added to every
    call (the sandbox's simulated ring and talk times). ``agent_namespace``
    is where the session publishes its agents' connect and complete events
    (``campaigns.agents.events``): the console must subscribe to the same one.
    """

    database_url: str
    redis_url: str
    ami_host: str
    ami_port: int
    ami_username: str
    ami_secret: str
    channel_template: str = DEFAULT_DIAL_CHANNEL
    dial_queue: str | None = None
    dial_variables: Mapping[str, str] = field(default_factory=dict)
    queue_wait_s: int | None = None
    rq_queue: str = DEFAULT_DIAL_QUEUE
    call_prefix: str = "cadencia"
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DialerSettings:
        """``Settings.load(env).dialer()``."""
        return Settings.load(env).dialer()

    def to_env(self) -> dict[str, str]:
        """The worker environment that rebuilds these settings."""
        env = {
            "CADENCIA_DATABASE_URL": self.database_url,
            "CADENCIA_REDIS_URL": self.redis_url,
            "CADENCIA_AMI_HOST": self.ami_host,
            "CADENCIA_AMI_PORT": str(self.ami_port),
            "CADENCIA_AMI_USERNAME": self.ami_username,
            "CADENCIA_AMI_SECRET": self.ami_secret,
            "CADENCIA_DIAL_CHANNEL": self.channel_template,
            "CADENCIA_DIAL_VARIABLES": json.dumps(dict(self.dial_variables)),
            "CADENCIA_DIALER_QUEUE": self.rq_queue,
            "CADENCIA_CALL_PREFIX": self.call_prefix,
            "CADENCIA_AGENT_NAMESPACE": self.agent_namespace,
        }
        if self.dial_queue:
            env["CADENCIA_DIAL_QUEUE"] = self.dial_queue
        if self.queue_wait_s is not None:
            env["CADENCIA_DIAL_QUEUE_WAIT"] = str(self.queue_wait_s)
        return env


@dataclass(frozen=True)
class RecordingSettings:
    """Call recordings (docs/recording.md): ``spool`` is the directory Asterisk's
    MixMonitor writes into, as this process sees it (a shared volume); ``store``
    the local recording store; ``retention_days`` applies to a recording whose
    call has no campaign (an inbound call)."""

    spool: Path = Path("/var/spool/asterisk/monitor")
    store: Path = Path("recordings")
    retention_days: int = 365


@dataclass(frozen=True)
class DeskSettings:
    """What ``cadencia desk`` needs: PBX and stores, inbound queue, caller-ID region,
    and where recordings are written and kept."""

    dialer: DialerSettings
    queue: str
    region: str
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
