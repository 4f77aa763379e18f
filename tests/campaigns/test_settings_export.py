"""What ``cadencia worker`` exports for its work horses loads again, secrets from files included."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.settings import Settings, shown_redis_url


def test_settings_read_from_files_load_again_in_a_forked_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password, secret = tmp_path / "redis_worker_password", tmp_path / "ami_secret"
    password.write_text("s3cret/with:odd@chars\n", encoding="utf-8")
    secret.write_text("ami-secret\n", encoding="utf-8")
    monkeypatch.setenv("CADENCIA_REDIS_URL", "redis://worker@redis:6379/0")
    monkeypatch.setenv("CADENCIA_REDIS_PASSWORD_FILE", str(password))
    monkeypatch.setenv("CADENCIA_AMI_HOST", "pbx")
    monkeypatch.setenv("CADENCIA_AMI_SECRET_FILE", str(secret))
    parent = Settings.load()
    assert parent.redis_url == "redis://worker:s3cret%2Fwith%3Aodd%40chars@redis:6379/0"
    assert shown_redis_url(parent.redis_url) == "redis://worker:***@redis:6379/0"
    parent.export()  # what `cadencia worker` does before forking
    child = Settings.load()  # what each job function does in the work horse
    assert child.redis_url == parent.redis_url
    assert child.dialer().ami_secret == "ami-secret"
