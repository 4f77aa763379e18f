"""campaigns.settings: every variable in one typed place, NAME_FILE for each, named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.settings import ConfigError, Settings

# A valid value for every variable Settings reads (by alias).
SAMPLES = {
    "CADENCIA_DATABASE_URL": "postgresql://cadencia@db/cadencia",
    "CADENCIA_REDIS_URL": "redis://cache:6379/2",
    "CADENCIA_REDIS_PASSWORD": "the worker's redis password",
    "CADENCIA_LOG_FORMAT": "json",
    "CADENCIA_SIM_CLOCK": "2026-11-24T13:00:00+00:00,1764000000.0,60.0",
    "CADENCIA_MESSAGE_QUEUE": "msgs",
    "CADENCIA_SENDERS": '{"default": {"email": "cobranza@bank.example", "sms": "+15005550006"}}',
    "CADENCIA_OPT_OUT_URL": "https://bank.example/opt-out/{customer}/{channel}",
    "CADENCIA_WEBHOOK_BASE_URL": "https://hooks.bank.example/",
    "CADENCIA_PROVIDER_STANDIN_URL": "http://127.0.0.1:8025",
    "CADENCIA_AMI_HOST": "pbx",
    "CADENCIA_AMI_PORT": "5039",
    "CADENCIA_AMI_USERNAME": "dialer",
    "CADENCIA_AMI_SECRET": "s3cret",
    "CADENCIA_DIAL_CHANNEL": "PJSIP/{e164}@trunk2",
    "CADENCIA_DIAL_QUEUE": "cadencia-test",
    "CADENCIA_DIAL_VARIABLES": '{"RING_S": "2"}',
    "CADENCIA_DIAL_QUEUE_WAIT": "30",
    "CADENCIA_DIALER_QUEUE": "dialer-b",
    "CADENCIA_CONSOLE_AMI_USERNAME": "console-b",
    "CADENCIA_CONSOLE_AMI_SECRET": "another secret",
    "CADENCIA_SOFTPHONE_WSS_URL": "wss://pbx.example:8089/ws",
    "CADENCIA_SOFTPHONE_KEY": "a softphone key of at least thirty-two characters",
    "CADENCIA_SOFTPHONE_REALM": "cadencia-b",
    "CADENCIA_SOFTPHONE_QUEUES": "cadencia-cards,cadencia-loans",
    "CADENCIA_SOFTPHONE_AUTO_ANSWER": "true",
    "CADENCIA_SOFTPHONE_CONFIG": "/etc/asterisk/softphones/agents.conf",
    "CADENCIA_PROVISION_AMI_USERNAME": "provision-b",
    "CADENCIA_PROVISION_AMI_SECRET": "the provisioner's secret",
    "CADENCIA_INBOUND_QUEUE": "company-line",
    "CADENCIA_INBOUND_REGION": "MX",
    "CADENCIA_TRANSFER_QUEUES": "supervisors,cobranza-b",
    "CADENCIA_CALL_PREFIX": "cad2",
    "CADENCIA_AGENT_NAMESPACE": "floor-b",
    "CADENCIA_WEB_PASSWORD": "a long enough secret",
    "CADENCIA_WEB_IDLE_MINUTES": "45",
    "CADENCIA_CAMPAIGN_DIR": "/etc/cadencia/campaigns",
    "CADENCIA_WEB_UPLOAD_MAX_MIB": "50",
    "CADENCIA_PORTAL_SECRET": "a portal cookie key",
    "CADENCIA_PAYMENTS_KEYS": '{"bank-2026": "0123456789abcdef0123"}',
    "CADENCIA_CHECKPOINT_KEY": (
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIHBefooQarXXoFrh2JzTb2uF+4Z25zn7mDGI5NmImZjd\n"
        "-----END PRIVATE KEY-----"
    ),
    "CADENCIA_CHECKPOINT_PUBLIC_KEY": "O/GRBnVnTs3x4T6m5h9cmm4AJx/hAeJNo3LxIdHkBB0=",
    "CADENCIA_CHECKPOINT_DIR": "/var/lib/cadencia/checkpoints",
    "CADENCIA_RECORDING_SPOOL": "/mnt/pbx/monitor",
    "CADENCIA_RECORDING_DIR": "/var/lib/cadencia/recordings",
    "CADENCIA_RECORDING_RETENTION_DAYS": "730",
    "CADENCIA_STRIPE_API_KEY": "sk_test_0123456789",
    "CADENCIA_STRIPE_API_BASE": "http://127.0.0.1:12111",
    "CADENCIA_STRIPE_WEBHOOK_SECRET": "whsec_0123456789",
    "CADENCIA_STRIPE_SUCCESS_URL": "https://pay.bank.example/p/{reference}?payment={CHECKOUT_SESSION_ID}",
    "CADENCIA_STRIPE_CANCEL_URL": "https://pay.bank.example/p/{reference}?payment=cancelled",
}


def variables() -> list[str]:
    return sorted(
        str(info.validation_alias)
        for info in Settings.model_fields.values()
        if info.validation_alias is not None
    )


def test_every_variable_has_a_sample_here() -> None:
    assert variables() == sorted(SAMPLES)


def test_defaults_need_no_environment() -> None:
    s = Settings.load({})
    assert s.database_url == "sqlite:///cadencia.db"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.ami() is None and s.clock().sim_start is None
    assert s.channels().sendgrid is None and s.messaging().queue == "messages"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_variable_is_read_directly_and_from_a_file(name: str, tmp_path: Path) -> None:
    secret = tmp_path / "value"
    secret.write_text(SAMPLES[name] + "\n", encoding="utf-8")
    direct = Settings.load({name: SAMPLES[name]})
    from_file = Settings.load({f"{name}_FILE": str(secret)})
    assert direct == from_file
    assert direct != Settings.load({})
    assert direct.to_env()[name]


def test_provider_variables_reach_the_channels_package(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok\n", encoding="utf-8")
    s = Settings.load(
        {
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "token"),
            "SENDGRID_API_KEY": "SG.x",
        }
    )
    twilio = s.channels().twilio
    assert twilio is not None and twilio.auth_token == "tok"
    assert s.messaging().channels.sendgrid is not None


def test_to_env_rebuilds_the_same_settings() -> None:
    s = Settings.load({**SAMPLES, "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"})
    assert Settings.load(s.to_env()) == s
    assert s.dialer().ami_port == 5039 and s.dialer().dial_variables == {"RING_S": "2"}
    assert s.dialer().agent_namespace == "floor-b"  # the dial jobs publish where the console reads


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CADENCIA_AMI_PORT": "five"}, "CADENCIA_AMI_PORT='five'"),
        ({"CADENCIA_DATABASE_URL": "mysql://x"}, "CADENCIA_DATABASE_URL: "),
        ({"CADENCIA_LOG_FORMAT": "xml"}, "CADENCIA_LOG_FORMAT='xml'"),
        ({"CADENCIA_SENDERS": "[1"}, "CADENCIA_SENDERS="),
        ({"CADENCIA_SENDERS": '{"x": {"fax": "1"}}'}, "unknown keys"),
        ({"CADENCIA_DIAL_VARIABLES": "[1]"}, "CADENCIA_DIAL_VARIABLES="),
        ({"CADENCIA_OPT_OUT_URL": "bank.example"}, "CADENCIA_OPT_OUT_URL="),
        ({"CADENCIA_SIM_CLOCK": "noon"}, "CADENCIA_SIM_CLOCK"),
        ({"CADENCIA_AGENT_NAMESPACE": "a:b"}, "CADENCIA_AGENT_NAMESPACE='a:b'"),
        ({"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN missing"),
        (
            {"CADENCIA_AMI_SECRET": "a", "CADENCIA_AMI_SECRET_FILE": "/x"},
            "both CADENCIA_AMI_SECRET",
        ),
        ({"CADENCIA_REDIS_URL_FILE": "/nonexistent/x"}, "CADENCIA_REDIS_URL_FILE"),
        ({"CADENCIA_PAYMENTS_KEYS": '{"k": "short"}'}, "16\\+ characters"),
        ({"CADENCIA_CHECKPOINT_KEY": "not a key"}, "CADENCIA_CHECKPOINT_KEY: the key: not an"),
        ({"CADENCIA_CHECKPOINT_PUBLIC_KEY": "AAAA"}, "CADENCIA_CHECKPOINT_PUBLIC_KEY: the value"),
    ],
)
def test_bad_values_are_errors_that_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        Settings.load(env)


def test_secrets_are_not_echoed_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"CADENCIA_AMI_SECRET": "hunter2", "CADENCIA_AMI_PORT": "x"})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Settings.load({"CADENCIA_DATABASE_URL": "mysql://app:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Settings.load({"CADENCIA_PAYMENTS_KEYS": '{"k": "hunter2"}'})
    assert "hunter2" not in str(caught.value)


def test_the_pbx_is_configured_by_its_host_and_needs_a_secret() -> None:
    assert Settings.load({"CADENCIA_AMI_SECRET": "s"}).ami() is None
    with pytest.raises(ConfigError, match="CADENCIA_AMI_SECRET"):
        Settings.load({"CADENCIA_AMI_HOST": "pbx"}).ami()
    with pytest.raises(ConfigError, match="CADENCIA_AMI_HOST"):
        Settings.load({}).dialer()
    ami = Settings.load({"CADENCIA_AMI_HOST": "pbx", "CADENCIA_AMI_SECRET": "s"}).ami()
    assert ami is not None and (ami.port, ami.username) == (5038, "cadencia")


def test_the_command_line_database_wins_over_the_environment() -> None:
    s = Settings.load({"CADENCIA_DATABASE_URL": "sqlite:///a.db"}, database_url="sqlite:///b.db")
    assert s.database_url == "sqlite:///b.db"


def test_the_checkpoint_keys_are_one_pair() -> None:
    s = Settings.load(
        {
            name: SAMPLES[name]
            for name in ("CADENCIA_CHECKPOINT_KEY", "CADENCIA_CHECKPOINT_PUBLIC_KEY")
        }
    )
    assert set(s.checkpoint_publics()) == {s.checkpoint_signer().key_id}
    assert s.checkpoint_store().where() == "ledger-checkpoints"
    with pytest.raises(ConfigError, match="CADENCIA_CHECKPOINT_KEY_FILE"):
        Settings.load({}).checkpoint_signer()
