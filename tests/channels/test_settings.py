"""ChannelSettings.from_mapping: names, *_FILE variants, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.errors import SettingsError
from channels.settings import ChannelSettings


def test_full_configuration() -> None:
    s = ChannelSettings.from_mapping(
        {
            "SENDGRID_API_KEY": "SG.x",
            "SENDGRID_API_HOST": "http://127.0.0.1:9000/",
            "SENDGRID_WEBHOOK_PUBLIC_KEY": "MFkw",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "tok",
            "TWILIO_API_BASE": "http://127.0.0.1:9000",
            "TWILIO_CONCURRENCY": "32",
            "PAYMENT_LINK_URL_PATTERN": "https://pay.example/{token}",
            "PAYMENT_LINK_SECRET": "k",
            "CHANNELS_HTTP_TIMEOUT_S": "2.5",
        }
    )
    assert s.sendgrid is not None and s.sendgrid.api_host == "http://127.0.0.1:9000"
    assert s.sendgrid.webhook_public_key == "MFkw"
    assert s.twilio is not None and (s.twilio.account_sid, s.twilio.auth_token) == ("AC1", "tok")
    assert s.twilio.concurrency == 32
    assert s.payment_link is not None and s.payment_link.ttl_hours == 72.0
    assert s.http_timeout_s == 2.5


def test_defaults_and_unconfigured_providers() -> None:
    s = ChannelSettings.from_mapping({"SENDGRID_API_KEY": "SG.x"})
    assert s.sendgrid is not None and s.sendgrid.api_host == "https://api.sendgrid.com"
    assert s.twilio is None and s.payment_link is None


def test_file_variants_are_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n", encoding="utf-8")
    s = ChannelSettings.from_mapping(
        {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "token")}
    )
    assert s.twilio is not None and s.twilio.auth_token == "from-file"


def test_file_reader_is_injectable() -> None:
    files = {"/run/secrets/sg": "SG.secret"}
    s = ChannelSettings.from_mapping(
        {"SENDGRID_API_KEY_FILE": "/run/secrets/sg"}, read_file=files.__getitem__
    )
    assert s.sendgrid is not None and s.sendgrid.api_key == "SG.secret"


def test_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN missing"):
        ChannelSettings.from_mapping({"TWILIO_ACCOUNT_SID": "AC1"})
    with pytest.raises(SettingsError, match="both SENDGRID_API_KEY and SENDGRID_API_KEY_FILE"):
        ChannelSettings.from_mapping({"SENDGRID_API_KEY": "a", "SENDGRID_API_KEY_FILE": "/x"})
    with pytest.raises(SettingsError, match="SENDGRID_API_KEY_FILE"):
        ChannelSettings.from_mapping({"SENDGRID_API_KEY_FILE": str(tmp_path / "absent")})
    with pytest.raises(SettingsError, match="TWILIO_API_BASE"):
        ChannelSettings.from_mapping(
            {
                "TWILIO_ACCOUNT_SID": "a",
                "TWILIO_AUTH_TOKEN": "b",
                "TWILIO_API_BASE": "api.twilio.com",
            }
        )
    with pytest.raises(SettingsError, match=r"\{token\}"):
        ChannelSettings.from_mapping(
            {"PAYMENT_LINK_URL_PATTERN": "https://x", "PAYMENT_LINK_SECRET": "k"}
        )
    with pytest.raises(SettingsError, match="CHANNELS_HTTP_TIMEOUT_S"):
        ChannelSettings.from_mapping({"CHANNELS_HTTP_TIMEOUT_S": "-1"})
    twilio = {"TWILIO_ACCOUNT_SID": "a", "TWILIO_AUTH_TOKEN": "b"}
    assert ChannelSettings.from_mapping(twilio).twilio.concurrency == 8  # type: ignore[union-attr]
    for bad, why in [("0", "between 1 and 100"), ("101", "between 1 and 100"), ("4.5", "whole")]:
        with pytest.raises(SettingsError, match=f"TWILIO_CONCURRENCY='{bad}'.*{why}"):
            ChannelSettings.from_mapping({**twilio, "TWILIO_CONCURRENCY": bad})
